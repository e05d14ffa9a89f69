"""Sharding: replicas split the bound objects between them.

Each replica holds a Lease in a ring (membership), the ring's live members
split hash buckets between them (hashring, shards), each replica lists and
watches only its buckets' objects (shardlist), and a new chart rolls out over
the ring in steps (ringrollout). `ring.Ring` puts these together for the
controller's main loop.
"""
