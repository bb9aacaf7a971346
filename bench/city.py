"""A synthetic subdistrict, generated set-based in PostgreSQL (COPY and INSERT ... SELECT
generate_series), never row by row through the ORM.

Tree: 1 subdistrict → communities → compound grids → buildings, with treebeard's materialised
path (steplen 4, alphabet 0-9A-Z). Households and persons fill the buildings in id order, the
way community ledgers arrive (one community's import after another), so a grid's rows are
clustered by id; 1 % of persons are archived. Sealed ID/phone bytes and their hashes are
stand-ins (md5 in SQL): they only feed the list and count benchmarks.
"""

from dataclasses import dataclass

import psycopg

from .report import note

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
STEPLEN = 4
ROOT_CODE = "BENCH"

SURNAMES = [
    ("王", "wang"), ("李", "li"), ("张", "zhang"), ("刘", "liu"), ("陈", "chen"), ("杨", "yang"), ("赵", "zhao"),
    ("黄", "huang"), ("周", "zhou"), ("吴", "wu"), ("徐", "xu"), ("孙", "sun"), ("胡", "hu"), ("朱", "zhu"),
    ("高", "gao"), ("林", "lin"), ("何", "he"), ("郭", "guo"), ("马", "ma"), ("罗", "luo"),
]  # fmt: skip
GIVEN = [
    ("伟", "wei"), ("芳", "fang"), ("娜", "na"), ("秀英", "xiuying"), ("敏", "min"), ("静", "jing"), ("丽", "li"),
    ("强", "qiang"), ("磊", "lei"), ("军", "jun"), ("洋", "yang"), ("勇", "yong"), ("艳", "yan"), ("杰", "jie"),
    ("娟", "juan"), ("涛", "tao"), ("明", "ming"), ("超", "chao"), ("秀兰", "xiulan"), ("霞", "xia"),
    ("平", "ping"), ("刚", "gang"), ("桂英", "guiying"), ("建华", "jianhua"), ("志强", "zhiqiang"),
    ("海燕", "haiyan"), ("晓东", "xiaodong"), ("玉兰", "yulan"), ("春梅", "chunmei"), ("国庆", "guoqing"),
]  # fmt: skip


@dataclass(frozen=True)
class Scale:
    name: str
    communities: int
    grids_per_community: int
    buildings_per_grid: int
    persons: int
    households: int
    import_rows: int
    xlsx_rows: int
    import_slices: int
    list_runs: int
    count_runs: int
    count_runs_root: int

    @property
    def nodes(self) -> int:
        c, g, b = self.communities, self.grids_per_community, self.buildings_per_grid
        return 1 + c + c * g + c * g * b


SCALES = {
    # ~300 nodes, well under a minute in CI.
    "small": Scale("small", 3, 10, 9, 20_000, 8_000, 6_000, 1_000, 2, 100, 100, 50),
    # 4,885 nodes (44 communities × 10 compound grids × 10 buildings), 1 M persons, 400 k households.
    "full": Scale("full", 44, 10, 10, 1_000_000, 400_000, 200_000, 20_000, 4, 200, 100, 30),
}


def step(n: int) -> str:
    """The n-th (1-based) path step in treebeard's alphabet."""
    out = ""
    for _ in range(STEPLEN):
        n, r = divmod(n, len(ALPHABET))
        out = ALPHABET[r] + out
    return out


def community_code(c: int) -> str:
    return f"{ROOT_CODE}-C{c:03d}"


def grid_code(c: int, g: int) -> str:
    return f"{community_code(c)}-G{g:02d}"


def building_code(c: int, g: int, b: int) -> str:
    return f"{grid_code(c, g)}-B{b:02d}"


def _node_rows(scale: Scale):
    """(path, depth, numchild, code, name, level) in path order; codes sort like paths."""
    c_n, g_n, b_n = scale.communities, scale.grids_per_community, scale.buildings_per_grid
    root = step(1)
    yield root, 1, c_n, ROOT_CODE, "基准街道", "subdistrict"
    for c in range(1, c_n + 1):
        cp = root + step(c)
        yield cp, 2, g_n, community_code(c), f"第{c}社区", "community"
        for g in range(1, g_n + 1):
            gp = cp + step(g)
            yield gp, 3, b_n, grid_code(c, g), f"第{c}社区{g}号楼院", "grid"
            for b in range(1, b_n + 1):
                yield gp + step(b), 4, 0, building_code(c, g, b), f"第{c}社区{g}号院{b}号楼", "building"


def building_codes(scale: Scale) -> list[str]:
    return [
        building_code(c, g, b)
        for c in range(1, scale.communities + 1)
        for g in range(1, scale.grids_per_community + 1)
        for b in range(1, scale.buildings_per_grid + 1)
    ]


HOUSEHOLDS_SQL = """
INSERT INTO people_household (grid_id, number, address, import_batch_id, archived_at, created_at, updated_at)
SELECT b.id, i::text, '历下区基准路' || (i / 100 + 1) || '号' || mod(i, 100) + 1 || '室', NULL, NULL, now(), now()
FROM generate_series(0, %(households)s - 1) AS i
JOIN bench_building b ON b.k = (i::bigint * %(buildings)s / %(households)s)
ORDER BY i
"""

PERSONS_SQL = """
INSERT INTO people_person (
    name, name_pinyin, name_initials, id_number_sealed, id_number_hash, id_number_masked, sex, birth_year,
    birth_date_sealed,
    phone_sealed, phone_hash, phone_masked, household_id, relationship, grid_id, note, import_batch_id,
    import_row, archived_at, created_at, updated_at)
SELECT
    s.sur[1 + mod(i, 20)] || s.giv[1 + mod(i / 20, 30)],
    s.sur_py[1 + mod(i, 20)] || s.giv_py[1 + mod(i / 20, 30)],
    left(s.sur_py[1 + mod(i, 20)], 1) || left(s.giv_py[1 + mod(i / 20, 30)], 1),
    decode('01' || md5('n' || i) || md5('s' || i) || md5('e' || i), 'hex'),
    md5('id' || i) || md5('di' || i),
    '370102********' || lpad(mod(i, 10000)::text, 4, '0'),
    CASE WHEN mod(i, 2) = 0 THEN 'F' ELSE 'M' END,
    extract(year FROM date '1935-01-01' + mod(i::bigint * 7919, 31000)::int)::int,
    decode('01' || md5('b' || i) || md5('d' || i), 'hex'),
    decode('01' || md5('p' || i) || md5('h' || i), 'hex'),
    md5('ph' || i) || md5('hp' || i),
    '13' || mod(i, 10) || '****' || lpad(mod(i * 31, 10000)::text, 4, '0'),
    h.id,
    CASE WHEN i = 0 OR (i::bigint * %(households)s / %(persons)s) <> ((i - 1)::bigint * %(households)s / %(persons)s)
         THEN 'head' WHEN mod(i, 3) = 0 THEN 'spouse' ELSE 'child' END,
    h.grid_id,
    '',
    NULL,
    NULL,
    CASE WHEN mod(i, 100) = 99 THEN now() END,
    now(),
    now()
FROM generate_series(0, %(persons)s - 1) AS i
CROSS JOIN (SELECT %(sur)s::text[] AS sur, %(sur_py)s::text[] AS sur_py,
                   %(giv)s::text[] AS giv, %(giv_py)s::text[] AS giv_py) AS s
JOIN bench_household h ON h.k = (i::bigint * %(households)s / %(persons)s)
ORDER BY i
"""

PLACES_SQL = """
INSERT INTO grids_place (name, kind, address, grid_id, thematic_grid_id, credit_code, contact_name,
                         contact_phone_sealed, contact_phone_masked, import_batch_id, archived_at,
                         created_at, updated_at)
SELECT '基准便利店' || b.k, 'shop', '历下区基准路' || b.k || '号', b.id, NULL, '', '',
       NULL, '', NULL, NULL, now(), now()
FROM bench_building b
"""

USERS_SQL = """
INSERT INTO accounts_user (password, last_login, is_superuser, username, first_name, last_name, email,
                           is_staff, is_active, date_joined, full_name, phone_masked, person_id)
SELECT '!', NULL, false, %(prefix)s || n.code, '', '', '', false, true, now(), n.name || %(label)s, '', NULL
FROM grids_gridnode n WHERE n.level = %(level)s
"""

ASSIGNMENTS_SQL = """
INSERT INTO accounts_gridassignment (user_id, node_id, role, duties, started_at, ended_at, created_by_id)
SELECT u.id, n.id, %(role)s, '[]'::jsonb, now(), NULL, NULL
FROM grids_gridnode n JOIN accounts_user u ON u.username = %(prefix)s || n.code
WHERE n.level = %(level)s
"""

# (username prefix, display suffix, level, role): a commander at the subdistrict, one community
# staff per community, one grid member per compound grid.
STAFF = [
    ("cmd-", "指挥长", "subdistrict", "commander"),
    ("cs-", "社区工作人员", "community", "community_staff"),
    ("gm-", "网格员", "grid", "grid_member"),
]


def build(conn: psycopg.Connection, scale: Scale) -> dict[str, int]:
    """Fill the freshly migrated bench database; returns row counts. `conn` is in autocommit
    mode (VACUUM); the filling is one transaction."""
    with conn.transaction():
        conn.execute("SET LOCAL synchronous_commit = off")
        with conn.cursor() as cur:
            columns = "path, depth, numchild, code, name, level, category, address, created_at, updated_at"
            with cur.copy(f"COPY grids_gridnode ({columns}) FROM STDIN") as copy:
                for path, depth, numchild, code, name, level in _node_rows(scale):
                    copy.write_row((path, depth, numchild, code, name, level, "", "", "now", "now"))
        conn.execute(
            "CREATE TEMP TABLE bench_building ON COMMIT DROP AS "
            "SELECT (row_number() OVER (ORDER BY path) - 1)::bigint AS k, id FROM grids_gridnode "
            "WHERE level = 'building'"
        )
        conn.execute("CREATE UNIQUE INDEX ON bench_building (k)")
        buildings = conn.execute("SELECT count(*) FROM bench_building").fetchone()[0]
        params = {"households": scale.households, "persons": scale.persons, "buildings": buildings}
        note(f"city: {scale.nodes} grid nodes; inserting {scale.households} households")
        conn.execute(HOUSEHOLDS_SQL, params)
        conn.execute(
            "CREATE TEMP TABLE bench_household ON COMMIT DROP AS "
            "SELECT (row_number() OVER (ORDER BY id) - 1)::bigint AS k, id, grid_id FROM people_household"
        )
        conn.execute("CREATE UNIQUE INDEX ON bench_household (k)")
        conn.execute("ANALYZE bench_household")
        note(f"city: inserting {scale.persons} persons")
        conn.execute(
            PERSONS_SQL,
            params
            | {
                "sur": [s for s, _ in SURNAMES],
                "sur_py": [p for _, p in SURNAMES],
                "giv": [g for g, _ in GIVEN],
                "giv_py": [p for _, p in GIVEN],
            },
        )
        conn.execute(PLACES_SQL)
        for prefix, label, level, role in STAFF:
            conn.execute(USERS_SQL, {"prefix": prefix, "label": label, "level": level})
            conn.execute(ASSIGNMENTS_SQL, {"prefix": prefix, "level": level, "role": role})
    # Visibility map and planner statistics, as on a settled production database.
    for table in ("grids_gridnode", "people_household", "people_person", "grids_place", "accounts_gridassignment"):
        conn.execute(f"VACUUM ANALYZE {table}")
    counts = {}
    for table in ("grids_gridnode", "people_household", "people_person", "grids_place", "accounts_gridassignment"):
        counts[table] = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    return counts
