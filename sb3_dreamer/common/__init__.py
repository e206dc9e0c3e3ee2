"""Parts shared by every algorithm of the Dreamer family."""
