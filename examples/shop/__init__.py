"""A small demo shop that Tailor sits in front of (demo and end-to-end tests).

Rule: the shop knows nothing about Tailor. It only marks its HTML with the
slot markup a site owner would add, and (optionally) names the logged-in
customer in one response header.
"""
