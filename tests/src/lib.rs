//! tests (coming soon)
