//! kvraft (coming soon)
