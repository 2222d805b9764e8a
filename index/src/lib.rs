//! The incident index (tantivy) arrives with the index issue; this crate has no behaviour yet.
