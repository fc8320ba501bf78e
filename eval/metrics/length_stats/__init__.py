"""The `length_stats` evaluate module (a package only so that it ships in the wheel)."""
