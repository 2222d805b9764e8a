//! canhgac-detect
