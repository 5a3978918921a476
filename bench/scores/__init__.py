"""Pure score formulas (one module per family), each documented with its formula and source."""
