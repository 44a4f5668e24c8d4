"""The simulated province: processes of the lab (real peers) and their start-up."""
