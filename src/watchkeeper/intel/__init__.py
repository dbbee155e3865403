"""Threat intelligence: the STIX 2.1 store, imports and exports, TLP, warninglists, scoring."""
