"""The shared ground: institutions, staff accounts and access, residents, messages, audit, crypto.

Other contexts import only ``jingan.core.public`` (and ``contracts``) once it exists.
"""
