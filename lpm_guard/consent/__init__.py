"""Consent: identities, their subjects' consent and its revocation, protected identities and
the face matching that ties every reference photo to the person who consented."""
