"""The runtime layer (sink guard): checks the actual operation user input is about to change."""
