"""Return access lockout: 3 consecutive authentication failures lock a recipient out."""
