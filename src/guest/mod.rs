//! The guest API's domain: agent registration, per-VM credentials, goal states. (to be written)
