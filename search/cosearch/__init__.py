"""cosearch"""
