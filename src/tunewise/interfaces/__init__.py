"""The small interfaces everything in tunewise plugs into, one file each."""
