"""The JSON bodies the service answers with: what ``/openapi.json`` describes and what the views build.

Search answers are the library's own dataclasses (``embeddings.search``), described as they are.
The shapes here are the service's; where one shows fields of a library record (a passage, a
document), it takes their types from the record's class instead of writing them again.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, create_model

from embeddings import chunking, corpus
from embeddings.search import SearchResponse
from embeddings.store import PassageRow


def fields_of(record: type, *names: str) -> dict[str, Any]:
    """The types of ``names`` (default: all its fields, in order) as the dataclass ``record`` declares them."""
    hints = typing.get_type_hints(record)
    return {name: hints[name] for name in names or [f.name for f in dataclasses.fields(record)]}


def shape(name: str, **fields: Any) -> type[BaseModel]:
    """A response model of these fields, in this order, every one of them always present."""
    return create_model(name, **fields)


def body_of(model: type[BaseModel], record: object = None, /, **values: object) -> dict[str, object]:
    """A body of ``model``'s fields in its order, each from ``values`` or else the same-named attribute
    of ``record``: a field the answer lacks fails here, not in a client."""
    unknown = set(values) - set(model.model_fields)
    if unknown:
        raise TypeError(f"{model.__name__} has no field(s) {', '.join(sorted(unknown))}")
    return {name: values[name] if name in values else getattr(record, name) for name in model.model_fields}


class ErrorBody(BaseModel):
    code: str
    message: str


class Error(BaseModel):
    error: ErrorBody


class Snapshot(BaseModel):
    version: Annotated[int, Field(description="the change version the vector snapshot holds (0: as built)")]
    created: str | None


class Compaction(BaseModel):
    at: Annotated[str | None, Field(description="when the snapshot it made was written (UTC, ISO 8601)")]
    previous: Annotated[int, Field(description="the snapshot version it compacted")]
    version: int
    kind: str
    vectors: int
    folded_passages: Annotated[int, Field(description="passages of the delta folded into the snapshot")]
    dropped_tombstones: Annotated[int, Field(description="deleted passages dropped from the vectors")]
    rebuilt: Annotated[
        bool, Field(description="an hnsw or ivfpq index built anew (past its share of tombstones), not grown in place")
    ]
    seconds: Annotated[float, Field(description="reading the store and building the snapshot (writing it follows)")]
    read_passages: int


class IndexInfo(BaseModel):
    generation: int
    kind: Annotated[
        str, Field(description="FAISS index kind: flat (exact), hnsw (approximate graph) or ivfpq (compressed cells)")
    ]
    ef_search: Annotated[int | None, Field(description="hnsw only: the default search effort")] = None
    nprobe: Annotated[int | None, Field(description="ivfpq only: the default number of cells scanned")] = None
    snapshot: Annotated[Snapshot, Field(description="the immutable, memory-mapped vector snapshot searched")]
    delta_passages: Annotated[
        int, Field(description="passages written since the snapshot, searched from memory until compaction")
    ]
    deleted_not_compacted: Annotated[
        int, Field(description="deleted passages still in the snapshot (left out of answers) until compaction")
    ]
    last_compaction: Annotated[
        Compaction | None, Field(description="the compaction that made the snapshot; null: the snapshot is the build's")
    ]


class Health(BaseModel):
    status: Annotated[
        Literal["ok", "degraded"],
        Field(
            description="degraded: this worker's last write met a storage fault and none has succeeded since, or "
            "the disk under the index is read-only or almost full"
        ),
    ]
    problem: Annotated[
        str | None, Field(description="when degraded, the kind of fault (storage_full, storage_read_only, ...)")
    ]
    documents: int
    passages: int
    jobs: Annotated[dict[str, int], Field(description="background writes queued and running")]
    model: dict[str, str]
    index: IndexInfo
    process: Annotated[int, Field(description="id of the worker process that answered")]


BatchResult = shape("BatchResult", **fields_of(SearchResponse), id=str | int | None)
BatchResponse = shape("BatchResponse", took_ms=float, results=list[BatchResult])

DocumentSummary = shape("DocumentSummary", **fields_of(corpus.Document, "id", "title", "date", "lang"), passages=int)
DocumentList = shape("DocumentList", total=int, limit=int, offset=int, documents=list[DocumentSummary])
DocumentPassage = shape(
    "DocumentPassage", passage_id=str, **fields_of(chunking.Passage, "ordinal", "lang", "text", "start", "end")
)
Document = shape(
    "Document", **fields_of(corpus.Document, "id", "title", "date", "lang", "source"), passages=list[DocumentPassage]
)
PassageMade = shape("PassageMade", passage_id=str, **fields_of(chunking.Passage, "ordinal", "lang", "start", "end"))
DocumentCreated = shape(
    "DocumentCreated",
    **fields_of(corpus.Document, "id", "title", "date", "lang"),
    replaced=Annotated[bool, Field(description="true when a document with this id was replaced")],
    passages=list[PassageMade],
)

Passage = shape(
    "Passage",
    passage_id=str,
    **fields_of(PassageRow, "doc_id", "ordinal", "lang", "text", "start", "end", "title", "date", "doc_lang"),
    previous=str | None,
    next=str | None,
)
RelatedResult = shape(
    "RelatedResult",
    rank=int,
    margin=Annotated[float, Field(description="ratio margin over both k-NN neighbourhoods; above 1 stands out")],
    cosine=float,
    passage_id=str,
    **fields_of(PassageRow, "doc_id", "title", "date", "lang", "text"),
)
Related = shape("Related", passage_id=str, results=list[RelatedResult])

DocumentDeleted = shape("DocumentDeleted", id=str, deleted=Annotated[bool, Field(description="false: there was none")])
JobDocument = shape(
    "JobDocument",
    id=Annotated[str, Field(description="the document id")],
    op=Literal["put", "delete"],
    status=Literal["queued", "running", "done", "failed"],
    document=Annotated[DocumentCreated | None, Field(description="a put, done: what it indexed")],
    deleted=Annotated[bool | None, Field(description="a delete, done: whether there was a document")],
    error=Annotated[str | None, Field(description="failed: why this document was not written")],
)
Job = shape(
    "Job",
    id=str,
    status=Annotated[
        Literal["queued", "running", "done", "failed"],
        Field(description="done or failed once every document's write finished; failed: at least one did"),
    ],
    created=Annotated[str, Field(description="ISO time, UTC")],
    finished=Annotated[str | None, Field(description="ISO time, UTC, once done or failed")],
    counts=Annotated[dict[str, int], Field(description="documents per status")],
    documents=Annotated[list[JobDocument], Field(description="in the order they are written")],
)
