#!/usr/bin/env python3
"""Generates the Swift side of the wire: for every message of proto/pcancel/v1 (but the
hand-shaped transport of envelope.proto), a plain Swift value and its protobuf-c mapping
(`WireMessage`), and for every enum a Swift enum. Reads protoc's descriptor set; the few choices
a .proto cannot express (a Swift name that differs, a nested message that must be present, a
string's tighter bound) come from tools/wire-swift.json.

Run by tools/generate-proto; the output is committed and tools/check-generated proves it current.

Usage: wire-swift.py DESCRIPTOR_SET MAPPING_JSON OUT_DIR
"""
import json
import os
import re
import sys

from google.protobuf import descriptor_pb2 as pb

F = pb.FieldDescriptorProto
SCALARS = {  # proto type: (Swift type, zero value, how protobuf-c holds it)
    F.TYPE_STRING: ("String", '""', "string"),
    F.TYPE_BYTES: ("ByteBuffer", "ByteBuffer()", "bytes"),
    F.TYPE_BOOL: ("Bool", "false", "bool"),
    F.TYPE_INT64: ("Int64", "0", "plain"),
    F.TYPE_UINT64: ("UInt64", "0", "plain"),
    F.TYPE_INT32: ("Int32", "0", "plain"),
    F.TYPE_UINT32: ("UInt32", "0", "plain"),
    F.TYPE_DOUBLE: ("Double", "0", "plain"),
}
SWIFT_KEYWORDS = {"default", "protocol", "extension", "import", "init", "self", "Type", "internal", "operator"}


def snake(name):
    """protoc-c's lower-case form of a CamelCase name: HealthResponse -> health_response."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def camel(name):
    """A field's Swift name: order_id -> orderID, payload_sha256 -> payloadSHA256."""
    words = name.split("_")
    upper = {"id": "ID", "sha256": "SHA256", "url": "URL"}
    out = words[0]
    for word in words[1:]:
        out += upper.get(word, word[:1].upper() + word[1:])
    return f"`{out}`" if out in SWIFT_KEYWORDS else out


def enum_case(value_name, enum_name):
    """SERVING_STATUS_NOT_SERVING in ServingStatus -> notServing (and its wire name NOT_SERVING)."""
    prefix = snake(enum_name).upper() + "_"
    short = value_name[len(prefix):] if value_name.startswith(prefix) else value_name
    words = short.lower().split("_")
    return words[0] + "".join(w[:1].upper() + w[1:] for w in words[1:]), short


def comments(location):
    """A proto element's leading and trailing comments as Swift doc-comment lines."""
    if location is None:
        return []
    text = "\n".join(part.strip("\n") for part in (location.leading_comments, location.trailing_comments) if part.strip())
    lines = [line.strip() for line in text.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return [("/// " + line).rstrip() for line in lines]


def wrap(prefix, items, indent, limit=120):
    """`prefix(a, b, c)` on one line, or one item per line past `limit` columns."""
    one = f"{indent}{prefix}({', '.join(items)})"
    if len(one) <= limit or not items:
        return [one]
    inner = indent + " " * 4
    return [f"{indent}{prefix}("] + [f"{inner}{item}," for item in items[:-1]] + [f"{inner}{items[-1]}", f"{indent})"]


class Generator:
    def __init__(self, files, mapping):
        self.mapping = mapping
        self.files = [f for f in files if f.name.startswith("pcancel/")]
        self.swift_names = {}  # ".pcancel.v1.OrderView" -> "OrderView"
        self.enums = {}
        for f in self.files:
            package = "." + f.package
            for message in f.message_type:
                self.swift_names[f"{package}.{message.name}"] = mapping["rename"].get(message.name, message.name)
            for enum in f.enum_type:
                self.swift_names[f"{package}.{enum.name}"] = enum.name
                self.enums[f"{package}.{enum.name}"] = enum

    def field_kind(self, message, field):
        """How a field maps: a scalar, an enum, a repeated field, or a nested message that is
        optional (Swift `T?`), always present (`T`, absent decodes as `T()`) or required (`T`,
        absent is an error)."""
        key = f"{message.name}.{field.name}"
        choice = self.mapping["fields"].get(key, {})
        if field.label == F.LABEL_REPEATED:
            if field.type == F.TYPE_MESSAGE:
                return "repeated-message"
            if field.type == F.TYPE_STRING:
                return "repeated-string"
            raise SystemExit(f"{key}: repeated {F.Type.Name(field.type)} has no mapping yet")
        if field.HasField("oneof_index"):
            raise SystemExit(f"{key}: oneofs are mapped by hand (envelope.proto)")
        if field.type == F.TYPE_MESSAGE:
            presence = choice.get("presence", "optional")
            if presence not in ("optional", "default", "required"):
                raise SystemExit(f"{key}: presence must be optional, default or required")
            return "message-" + presence
        if field.type == F.TYPE_ENUM:
            return "enum"
        if field.type not in SCALARS:
            raise SystemExit(f"{key}: {F.Type.Name(field.type)} has no mapping yet")
        return "scalar"

    def swift_type(self, message, field):
        kind = self.field_kind(message, field)
        target = self.swift_names.get(field.type_name)
        if kind == "repeated-message":
            return f"[{target}]", "[]"
        if kind == "repeated-string":
            return "[String]", "[]"
        if kind == "message-optional":
            return f"{target}?", "nil"
        if kind == "message-default":
            return target, f"{target}()"
        if kind == "message-required":
            return target, None
        if kind == "enum":
            first, _ = enum_case(self.enums[field.type_name].value[0].name, target)
            return target, f".{first}"
        swift, zero, _ = SCALARS[field.type]
        return swift, zero

    def encode(self, message, field):
        name, c = camel(field.name), field.name
        kind = self.field_kind(message, field)
        if kind == "repeated-message":
            return [f"c.n_{c} = {name}.count", f"c.{c} = arena.messages({name})"]
        if kind == "repeated-string":
            return [f"c.n_{c} = {name}.count", f"c.{c} = arena.cStrings({name})"]
        if kind == "message-optional":
            return [f"if let {name} {{ c.{c} = arena.message({name}) }}"]
        if kind.startswith("message-"):
            return [f"c.{c} = arena.message({name})"]
        if kind == "enum":
            c_type = "Pcancel__V1__" + self.swift_names[field.type_name]
            return [f"c.{c} = {c_type}(rawValue: {name}.rawValue)"]
        holder = SCALARS[field.type][2]
        if holder == "string":
            return [f"c.{c} = arena.cString({name})"]
        if holder == "bytes":
            return [f"c.{c} = arena.binary({name})"]
        if holder == "bool":
            return [f"c.{c} = {name} ? 1 : 0"]
        return [f"c.{c} = {name}"]

    def decode(self, message, field):
        name, c = camel(field.name), field.name
        kind = self.field_kind(message, field)
        target = self.swift_names.get(field.type_name)
        choice = self.mapping["fields"].get(f"{message.name}.{field.name}", {})
        bound = f", maxBytes: {choice['max_bytes']}" if "max_bytes" in choice else ""
        if kind == "repeated-message":
            return f"try reader.messages(p.n_{c}, p.{c}, \"{c}\", as: {target}.self)"
        if kind == "repeated-string":
            return f"try reader.strings(p.n_{c}, p.{c}, \"{c}\")"
        if kind == "message-optional":
            return f"try reader.message(p.{c}, \"{c}\", as: {target}.self)"
        if kind == "message-default":
            return f"try reader.message(p.{c}, \"{c}\", as: {target}.self) ?? {target}()"
        if kind == "message-required":
            return f"try reader.required(p.{c}, \"{c}\", as: {target}.self)"
        if kind == "enum":
            first, _ = enum_case(self.enums[field.type_name].value[0].name, target)
            return f"{target}(rawValue: p.{c}.rawValue) ?? .{first}"
        holder = SCALARS[field.type][2]
        if holder == "string":
            return f"try reader.string(p.{c}, \"{c}\"{bound})"
        if holder == "bytes":
            return f"try reader.bytes(p.{c}, \"{c}\"{bound})"
        if holder == "bool":
            return f"p.{c} != 0"
        return f"p.{c}"

    def message(self, message, location):
        swift = self.swift_names[f".{self.package}.{message.name}"]
        c_type = "Pcancel__V1__" + message.name
        c_init = f"pcancel__v1__{snake(message.name)}__init"
        out = comments(location(()))
        out.append(f"public struct {swift}: Sendable, Hashable {{")
        parameters = []
        for index, field in enumerate(message.field):
            swift_type, zero = self.swift_type(message, field)
            out += ["    " + line for line in comments(location((2, index)))]
            out.append(f"    public var {camel(field.name)}: {swift_type}")
            parameters.append(f"{camel(field.name)}: {swift_type}" + (f" = {zero}" if zero is not None else ""))
        out.append("")
        if parameters:
            out += wrap("public init", parameters, "    ")
            out[-1] += " {"
            for field in message.field:
                out.append(f"        self.{camel(field.name).strip('`')} = {camel(field.name)}")
            out.append("    }")
        else:
            out.append("    public init() {}")
        out.append("}")
        out.append("")
        out.append(f"extension {swift}: WireMessage {{")
        out.append("    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> {")
        out.append(f"        PartialCancelWire.descriptor(of: {c_init}, {c_type}())")
        out.append("    }")
        out.append("")
        out.append(f"    public func cMessage(in arena: Arena) -> {c_type} {{")
        out.append(f"        var c = {c_type}()")
        out.append(f"        {c_init}(&c)")
        for field in message.field:
            out += ["        " + line for line in self.encode(message, field)]
        out.append("        return c")
        out.append("    }")
        out.append("")
        out.append(f"    public init(cMessage c: UnsafePointer<{c_type}>, reader: FieldReader) throws(WireDecodeError) {{")
        if message.field:
            out.append("        let p = c.pointee")
            arguments = [f"{camel(field.name).strip('`')}: {self.decode(message, field)}" for field in message.field]
            out += wrap("self.init", arguments, "        ")
        else:
            out.append("        self.init()")
        out.append("    }")
        out.append("}")
        return out

    def enum(self, enum, location):
        out = comments(location(()))
        out.append(f"public enum {enum.name}: UInt32, Sendable, Hashable, CaseIterable {{")
        names = []
        for index, value in enumerate(enum.value):
            case, wire = enum_case(value.name, enum.name)
            out += ["    " + line for line in comments(location((2, index)))]
            out.append(f"    case {case} = {value.number}")
            names.append((case, wire))
        out.append("")
        out.append("    /// The value's name in the .proto, without the enum's prefix.")
        out.append("    public var name: String {")
        out.append("        switch self {")
        for case, wire in names:
            out.append(f"        case .{case}: \"{wire}\"")
        out.append("        }")
        out.append("    }")
        out.append("}")
        return out

    def file(self, f):
        self.package = f.package
        by_path = {tuple(loc.path): loc for loc in f.source_code_info.location}
        body = []
        for index, enum in enumerate(f.enum_type):
            body += self.enum(enum, lambda sub, i=index: by_path.get((5, i) + sub)) + [""]
        for index, message in enumerate(f.message_type):
            body += self.message(message, lambda sub, i=index: by_path.get((4, i) + sub)) + [""]
        header = [
            f"// Generated by tools/generate-proto from {f.name}; do not edit.",
            "",
            "import CPartialCancelProto",
            "import NIOCore",
            "",
        ]
        return "\n".join(header + body).rstrip("\n") + "\n"


def main():
    descriptor_set, mapping_path, out_dir = sys.argv[1:4]
    files = pb.FileDescriptorSet()
    with open(descriptor_set, "rb") as handle:
        files.ParseFromString(handle.read())
    with open(mapping_path) as handle:
        mapping = json.load(handle)
    generator = Generator(files.file, mapping)
    os.makedirs(out_dir, exist_ok=True)
    for f in generator.files:
        if f.name in mapping["hand_mapped"] or not (f.message_type or f.enum_type):
            continue
        name = os.path.basename(f.name).removesuffix(".proto")
        with open(os.path.join(out_dir, f"{name}.pb.swift"), "w") as handle:
            handle.write(generator.file(f))


if __name__ == "__main__":
    main()
