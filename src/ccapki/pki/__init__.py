"""Pure PKI: keys, issuing, CSRs, file formats, inspection. No IO, explicit ``now``."""
