"""Local folders: the safe file operations, the folder tree, file names, locks."""
