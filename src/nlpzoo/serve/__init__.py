"""Serving a checkpoint over HTTP (LitServe), with drift monitoring of live requests."""
