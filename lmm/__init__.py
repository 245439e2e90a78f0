"""lighter-mm as a package (DESIGN.md). The flat top-level modules move here in a later issue."""
