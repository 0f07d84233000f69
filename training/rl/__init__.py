"""Reinforcement learning pieces for style rewriting (rewards, dropout)."""
