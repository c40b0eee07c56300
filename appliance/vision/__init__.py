"""Camera -> faces -> landmarks -> expression -> room mood. Frames never leave this package."""
