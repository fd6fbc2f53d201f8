"""RDS and Aurora instance classes: vCPUs, memory and the default `max_connections`.

The engines' default parameter formulas (aws-lambda-facts.md section 7) take
`DBInstanceClassMemory`, the class's memory minus what the OS and RDS keep for
themselves. AWS does not publish that reservation; Assumption A-51 takes
`0.97 x memory - 0.2 GiB`, which reproduces the published values within 2 %:
db.t3.micro on PostgreSQL 86 (87 quoted), Aurora PostgreSQL t3.medium 414 (420),
large 851 (844), r6g.large 1,725 (1,722), r6g.xlarge 3,474 (3,479), and the Aurora
MySQL table exactly (t3.small 45, medium 90, large 135, r5.large 1,000, xlarge
2,000, 2xlarge 3,000, 4xlarge 4,000, 8xlarge 5,000).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

GIB = 1024**3

# Burstable classes: name -> (vCPUs, memory GiB) (AWS instance type pages).
_BURSTABLE = {
    "micro": (2, 1),
    "small": (2, 2),
    "medium": (2, 4),
    "large": (2, 8),
    "xlarge": (4, 16),
    "2xlarge": (8, 32),
}
# The <n>xlarge sizes RDS offers in the m and r families (not every n in every
# generation).
_XLARGE_MULTIPLES = frozenset({2, 4, 8, 12, 16, 24, 32, 48})
# Memory per vCPU of the fixed-performance families: general purpose (m) and
# memory optimised (r, x2g is 16 but is left out).
_GIB_PER_VCPU = {"m": 4, "r": 8}
_CLASS = re.compile(
    r"^db\.(?P<family>[a-z])(?P<generation>\d)(?P<extra>[a-z]*)\.(?P<size>\w+)$"
)


@dataclass(frozen=True)
class InstanceClass:
    """The size of one database instance class.

    Attributes:
        name: The class, e.g. ``db.r6g.large``.
        vcpus: Its vCPUs.
        memory_gib: Its memory in GiB.
    """

    name: str
    vcpus: int
    memory_gib: float

    @property
    def usable_memory_bytes(self) -> float:
        """`DBInstanceClassMemory`: memory after the OS and RDS reservation (A-51)."""
        return 0.97 * self.memory_gib * GIB - 0.2 * GIB


def instance_class(name: str) -> InstanceClass:
    """Return the size of an RDS or Aurora instance class.

    >>> instance_class("db.r6g.xlarge")
    InstanceClass(name='db.r6g.xlarge', vcpus=4, memory_gib=32.0)

    Raises:
        ValueError: If the name is not a known class (the message says which are).
    """
    match = _CLASS.match(name)
    if match is not None:
        family, size = match["family"], match["size"]
        if family == "t" and size in _BURSTABLE:
            vcpus, memory_gib = _BURSTABLE[size]
            if match["generation"] == "2" and size in ("micro", "small"):
                vcpus = 1  # db.t2.micro and db.t2.small have one vCPU
            return InstanceClass(name, vcpus, float(memory_gib))
        size_vcpus = _size_vcpus(size)
        if family in _GIB_PER_VCPU and size_vcpus is not None:
            memory_gib = size_vcpus * _GIB_PER_VCPU[family]
            return InstanceClass(name, size_vcpus, float(memory_gib))
    raise ValueError(
        f"unknown instance class {name!r}; expected db.t2/t3/t4g.micro to 2xlarge, "
        "or db.m<generation>/r<generation> (e.g. db.m6g, db.r7g) .large, .xlarge or "
        ".<n>xlarge with n in 2, 4, 8, 12, 16, 24, 32, 48; for another class, leave "
        "instance_class out and give max_connections and vcpus"
    )


def _size_vcpus(size: str) -> int | None:
    if size == "large":
        return 2
    if size == "xlarge":
        return 4
    match = re.fullmatch(r"(\d+)xlarge", size)
    if match is None or int(match[1]) not in _XLARGE_MULTIPLES:
        return None
    return 4 * int(match[1])


def default_max_connections(engine: str, service: str, cls: InstanceClass) -> int:
    """Return the engine's default `max_connections` on an instance class.

    - RDS MySQL: `DBInstanceClassMemory / 12582880`.
    - RDS and Aurora PostgreSQL: `LEAST(DBInstanceClassMemory / 9531392, 5000)`.
    - Aurora MySQL: `GREATEST(log2(M / 805306368) x 45, log2(M / 8187281418) x
      1000)`, the logarithms rounded down (this matches AWS's table).

    >>> default_max_connections("postgres", "rds", instance_class("db.t3.micro"))
    86
    >>> default_max_connections("mysql", "aurora", instance_class("db.r5.large"))
    1000

    Args:
        engine: ``mysql`` or ``postgres``.
        service: ``rds`` or ``aurora``.
        cls: The instance class.
    """
    memory = cls.usable_memory_bytes
    if engine == "postgres":
        return min(math.floor(memory / 9531392), 5000)
    if service == "rds":
        return math.floor(memory / 12582880)
    small = math.floor(math.log2(memory / 805306368)) * 45
    large = math.floor(math.log2(memory / 8187281418)) * 1000
    return max(small, large, 1)


# Assumption A-55: PostgreSQL's default superuser_reserved_connections (PostgreSQL
# docs, "Connections and Authentication"); MySQL keeps its extra SUPER slot on top of
# max_connections.
RESERVED_CONNECTIONS = {"postgres": 3, "mysql": 0}

# Aurora Serverless v2 (aws-lambda-facts.md section 5 and 7): capacity in ACUs of
# about 2 GiB each, in steps of 0.5 ACU; `max_connections` follows the maximum.
ACU_GIB = 2.0
ACU_STEP = 0.5
MAX_ACU = 256.0
# Assumption A-62: the CPU that comes with an ACU, taken as the memory-optimised
# classes' ratio (db.r6g.large: 2 vCPUs, 16 GiB = 8 ACU of memory): 0.25 vCPU.
VCPUS_PER_ACU = 0.25
# With a minimum of 0.5 ACU, Aurora PostgreSQL caps max_connections at 2,000.
_PG_HALF_ACU_CAP = 2000


def serverless_v2_class(max_acu: float) -> InstanceClass:
    """The instance class an Aurora Serverless v2 writer at `max_acu` amounts to.

    >>> serverless_v2_class(16)
    InstanceClass(name='aurora-serverless-v2 16 ACU', vcpus=4, memory_gib=32.0)
    """
    return InstanceClass(
        f"aurora-serverless-v2 {max_acu:g} ACU",
        math.ceil(max_acu * VCPUS_PER_ACU),
        max_acu * ACU_GIB,
    )


def serverless_v2_max_connections(engine: str, min_acu: float, max_acu: float) -> int:
    """Return the default `max_connections` of Aurora Serverless v2.

    The Aurora formula on the memory of the maximum capacity (static until reboot);
    on PostgreSQL with a 0.5 ACU minimum, at most 2,000.

    >>> serverless_v2_max_connections("postgres", 0.5, 64)
    2000
    >>> serverless_v2_max_connections("postgres", 1, 64)
    5000
    >>> serverless_v2_max_connections("mysql", 0.5, 16)
    2000
    """
    found = default_max_connections(engine, "aurora", serverless_v2_class(max_acu))
    if engine == "postgres" and min_acu <= ACU_STEP:
        return min(found, _PG_HALF_ACU_CAP)
    return found
