//! canhgac-kafka
