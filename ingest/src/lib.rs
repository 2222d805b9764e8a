//! canhgac-ingest
