"""Tollgate gateway: the only public HTTP surface."""
