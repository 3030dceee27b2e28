//! raft (coming soon)
