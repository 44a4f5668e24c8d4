"""tslcd-netmon: the monitoring agent of a province's dedicated government data network."""

__version__ = "0.1.0"
