"""Readers for the generator files users bring; each turns a file's tensors into our Generator."""
