"""Market tapes: record, import, read (docs/tape.md)."""
from lmm.venue.tape.manifest import Manifest, SymbolInfo, read_manifest
from lmm.venue.tape.reader import Tape, open_tape
from lmm.venue.tape.schema import SCHEMA_VERSION, as_dict, tuple_fields
from lmm.venue.tape.writer import StreamBuffer, TapeWriter, WriterSettings

__all__ = ["SCHEMA_VERSION", "Manifest", "StreamBuffer", "SymbolInfo", "Tape", "TapeWriter", "WriterSettings",
           "as_dict", "open_tape", "read_manifest", "tuple_fields"]
