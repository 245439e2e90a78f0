"""Everything that talks to a market (DESIGN.md); `tape/` holds recorded market events."""
