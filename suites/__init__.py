"""The suites shipped with gemmbench (YAML files), installed as package data of gemmbench.suites."""
