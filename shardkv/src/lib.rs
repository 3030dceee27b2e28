//! shardkv (coming soon)
