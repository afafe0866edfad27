"""protobuf's own Heka Message class, the benchmarks' yardstick.

Built at run time from a descriptor (no protoc needed), with the schema
of Heka's message.proto: numbers, labels and packed numerics as Heka
declares them.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_F = descriptor_pb2.FieldDescriptorProto


def _field(msg: Any, name: str, number: int, ftype: int,
           label: int = _F.LABEL_OPTIONAL, type_name: str = "",
           packed: bool = False) -> None:
    f = msg.field.add(name=name, number=number, type=ftype, label=label)
    if type_name:
        f.type_name = type_name
    if packed:
        f.options.packed = True


def _build() -> Any:
    fd = descriptor_pb2.FileDescriptorProto(
        name="hekapy_bench_message.proto", package="message",
        syntax="proto2")
    field = fd.message_type.add(name="Field")
    vt = field.enum_type.add(name="ValueType")
    for i, n in enumerate(("STRING", "BYTES", "INTEGER", "DOUBLE", "BOOL")):
        vt.value.add(name=n, number=i)
    rep = _F.LABEL_REPEATED
    _field(field, "name", 1, _F.TYPE_STRING, _F.LABEL_REQUIRED)
    _field(field, "value_type", 2, _F.TYPE_ENUM,
           type_name=".message.Field.ValueType")
    _field(field, "representation", 3, _F.TYPE_STRING)
    _field(field, "value_string", 4, _F.TYPE_STRING, rep)
    _field(field, "value_bytes", 5, _F.TYPE_BYTES, rep)
    _field(field, "value_integer", 6, _F.TYPE_INT64, rep, packed=True)
    _field(field, "value_double", 7, _F.TYPE_DOUBLE, rep, packed=True)
    _field(field, "value_bool", 8, _F.TYPE_BOOL, rep, packed=True)
    msg = fd.message_type.add(name="Message")
    _field(msg, "uuid", 1, _F.TYPE_BYTES, _F.LABEL_REQUIRED)
    _field(msg, "timestamp", 2, _F.TYPE_INT64, _F.LABEL_REQUIRED)
    _field(msg, "type", 3, _F.TYPE_STRING)
    _field(msg, "logger", 4, _F.TYPE_STRING)
    _field(msg, "severity", 5, _F.TYPE_INT32)
    _field(msg, "payload", 6, _F.TYPE_STRING)
    _field(msg, "env_version", 7, _F.TYPE_STRING)
    _field(msg, "pid", 8, _F.TYPE_INT32)
    _field(msg, "hostname", 9, _F.TYPE_STRING)
    _field(msg, "fields", 10, _F.TYPE_MESSAGE, rep,
           type_name=".message.Field")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    desc = pool.FindMessageTypeByName("message.Message")
    return message_factory.GetMessageClass(desc)


HekaMessage = _build()


def backend() -> str:
    """Which protobuf implementation runs (upb, cpp or python)."""
    from google.protobuf.internal import api_implementation

    return str(api_implementation.Type())
