"""Stream processors: pure rules plus thin faust agents."""
