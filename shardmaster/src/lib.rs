//! shardmaster (coming soon)
