//! rules (being written)
