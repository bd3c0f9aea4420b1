# Names vulture reports unused that are used where it cannot look. Read by vulture only (never run).
# Each group says where the use is; a name that really falls out of use should leave this file too.
# ruff: noqa

# Attributes set on other libraries' objects, read by those libraries.
_.quantizedDimension, _.zeroPoint, _.quantization  # LiteRT flatbuffer tables (backends/peers/litert_model.py)
_.builtinCode, _.deprecatedBuiltinCode, _.opcodeIndex, _.builtinOptions, _.builtinOptionsType
_.signatureKey, _.subgraphIndex, _.operatorCodes, _.subgraphs, _.signatureDefs, _.tensorIndex, _.keepNumDims
_.intra_op_num_threads, _.inter_op_num_threads, _.execution_mode  # onnxruntime.SessionOptions
_.graph_optimization_level, _.log_severity_level
_.maxlevel, _.maxlong, _.maxother, _.maxstring  # reprlib.Repr (gemmbench/cases/fields.py)
_.writeable  # numpy's array flags (gemmbench/measure/isolation.py)

# Read by Python itself.
__getattr__  # module attributes loaded on first use (PEP 562): gemmbench, gemmbench.report
mtime_ns  # part of an lru_cache key: a file changed on disk is read again (gemmbench/cases/arrayfile.py)

# Fields of frozen dataclasses written out whole (asdict, JSON, the report's templates).
base_samples, new_samples  # compare's rows (compare --json)
calibration_cv, calibration_spread  # the noise check, kept in a results file's metadata
hosts, flags_present, flags_missing, isa_levels_run, isa_levels_unavailable  # report.html.j2's machine table
left_out, images, row_css  # report.html.j2
stored_blocks  # a detected block structure, as advise and its tests read it

# Run in a child process by name, from a code string (gemmbench/stats/noise.py).
calibration_samples

# The plugin contract: for plugins and their tests, not called inside gemmbench.
number_in  # FieldReader, for an op plugin's case fields (docs/ops.md)
unregister  # Registry, to undo a run-time registration
ROLES, COLUMN_TYPES, key_flag  # a backend's role, an op column's type, an ISA level's feature-key flag: allowed values

# The model of what a kernel computes, stated in docs/csimd.md; the kernels' tests hold them to it.
half_gemv_reference
