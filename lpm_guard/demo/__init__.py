"""``lpm-guard demo``: a sandbox to try the platform with — two sandbox accounts, a drawn
character approved through the review path, a signed clip, verified. Never a real person."""
