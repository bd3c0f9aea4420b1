"""What is measured: suite YAML -> cases, case fields, workloads, and the files their data come from."""
