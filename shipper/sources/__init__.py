"""Where raw records come from: files (read once or followed), stdin, the Fluentd forward protocol.

Every source yields `RawRecord`s into the pipeline and learns, through `acknowledge`, which of them are
safely delivered (in the engine or the durable spool); only then does it move its own checkpoint.
"""

from shipper.sources.base import RawRecord, Source

__all__ = ["RawRecord", "Source"]
