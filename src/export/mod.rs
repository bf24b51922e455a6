//! export (being written)
