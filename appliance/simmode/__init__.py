"""simmode"""
