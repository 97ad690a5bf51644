-- cronlock's tables and functions, schema version 2 (2 added backfills and
-- not_run;
-- applying this file to version 1 upgrades it).
--
-- Applied by the lock at start (PostgresLockConfig::manage_schema, on by
-- default) in one transaction, under a transaction-scoped advisory lock so
-- that instances starting together apply it once. Teams that apply
-- migrations themselves take it from cronlock::lock::postgres_schema_sql,
-- which fills in the schema name (default cronlock, quoted).
-- Times in the claim state are Unix milliseconds of the database's clock.

CREATE SCHEMA IF NOT EXISTS {schema};

CREATE TABLE IF NOT EXISTS {schema}.schema_version (
    version integer PRIMARY KEY,
    applied timestamptz NOT NULL DEFAULT now()
);

-- Per job: the newest claimed tick (mark), the last fencing token, the
-- widest claim window any instance asked for, the newest claim's token
-- (its first 16 characters), the floor (ticks at or before it count as
-- taken; -1: none), the run lock (holder's token and expiry) and how many
-- of its ticks claimed_ticks holds.
CREATE TABLE IF NOT EXISTS {schema}.claim_state (
    job text PRIMARY KEY,
    mark bigint NOT NULL,
    fence bigint NOT NULL,
    claim_window bigint NOT NULL,
    last_token text NOT NULL,
    floor bigint NOT NULL,
    run_token text,
    run_until bigint,
    remembered integer NOT NULL DEFAULT 0
);

-- The ticks claimed within the window before the mark.
CREATE TABLE IF NOT EXISTS {schema}.claimed_ticks (
    job text NOT NULL,
    tick bigint NOT NULL,
    fence bigint NOT NULL,
    token text NOT NULL,
    PRIMARY KEY (job, tick)
);

CREATE TABLE IF NOT EXISTS {schema}.history (
    id bigserial PRIMARY KEY,
    job text NOT NULL,
    tick timestamptz NOT NULL,
    instance text NOT NULL,
    started timestamptz NOT NULL,
    duration_ms bigint NOT NULL,
    outcome text NOT NULL,
    message text
);
CREATE INDEX IF NOT EXISTS history_job ON {schema}.history (job, id DESC);

CREATE TABLE IF NOT EXISTS {schema}.pauses (
    job text PRIMARY KEY,
    since timestamptz NOT NULL,
    until timestamptz,
    note text,
    paused_by text
);

CREATE TABLE IF NOT EXISTS {schema}.triggers (
    job text PRIMARY KEY,
    queued timestamptz NOT NULL,
    queued_by text
);

-- A backfill under way per job: its id and its encoded line (range,
-- requester, progress), as the Redis backend stores it.
CREATE TABLE IF NOT EXISTS {schema}.backfills (
    job text PRIMARY KEY,
    id text NOT NULL,
    line text NOT NULL
);

-- Ticks no instance ran, one row per tick with its record line (tick,
-- reason, instance, when recorded); a day of them, at most 2,000 per job.
CREATE TABLE IF NOT EXISTS {schema}.not_run (
    job text NOT NULL,
    tick bigint NOT NULL,
    line text NOT NULL,
    PRIMARY KEY (job, tick)
);

CREATE TABLE IF NOT EXISTS {schema}.jobs (
    name text PRIMARY KEY,
    spec text NOT NULL,
    tz text NOT NULL,
    timeout_ms bigint NOT NULL,
    enabled boolean NOT NULL,
    service text NOT NULL,
    instance text NOT NULL,
    seen timestamptz NOT NULL
);

-- The database's time in Unix milliseconds: what decides early claims and
-- run-lock expiry, whatever the instances' clocks say.
CREATE OR REPLACE FUNCTION {schema}.now_ms() RETURNS bigint
LANGUAGE sql VOLATILE AS $$
    SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint
$$;

-- Claims a batch of ticks; the rules are those of the Redis claim script.
-- Returns the database's time, then a (status, value) pair per claim:
-- 0 taken, 1 granted (value: the fencing token), 2 a run still holds the
-- lock, 3 too early (value: ms until it is not), 5 too late (the call
-- waited past its deadline; nothing was written). An error rolls back the
-- whole batch.
CREATE OR REPLACE FUNCTION {schema}.claim(
    p_jobs text[], p_ticks bigint[], p_tokens text[], p_ttls bigint[],
    p_exclusive boolean[], p_windows bigint[],
    p_margin bigint, p_deadline bigint, p_cap integer
) RETURNS bigint[]
LANGUAGE plpgsql AS $$
DECLARE
    now_ms bigint := {schema}.now_ms();
    answers bigint[] := ARRAY[now_ms];
    claims integer := coalesce(array_length(p_jobs, 1), 0);
    st {schema}.claim_state%ROWTYPE;
    v_tick bigint;
    v_token text;
    v_short text;
    v_ttl bigint;
    v_window bigint;
    v_found_fence bigint;
    v_found_token text;
    v_count bigint;
    v_oldest bigint;
BEGIN
    IF now_ms > p_deadline THEN
        FOR i IN 1 .. claims LOOP
            answers := answers || ARRAY[5, 0]::bigint[];
        END LOOP;
        RETURN answers;
    END IF;
    -- One row per job, locked in name order: batches of several instances
    -- that share jobs wait for each other instead of deadlocking.
    INSERT INTO {schema}.claim_state (job, mark, fence, claim_window, last_token, floor)
        SELECT j, -1, 0, 0, '', -1 FROM (SELECT DISTINCT unnest(p_jobs) AS j) AS jobs ORDER BY j
        ON CONFLICT (job) DO NOTHING;
    PERFORM 1 FROM {schema}.claim_state WHERE job = ANY (p_jobs) ORDER BY job FOR UPDATE;
    -- The rows may have been locked by other batches for a while: the
    -- deadline and every rule below count from now, after the wait.
    now_ms := {schema}.now_ms();
    answers[1] := now_ms;
    IF now_ms > p_deadline THEN
        FOR i IN 1 .. claims LOOP
            answers := answers || ARRAY[5, 0]::bigint[];
        END LOOP;
        RETURN answers;
    END IF;
    FOR i IN 1 .. claims LOOP
        v_tick := p_ticks[i];
        v_token := p_tokens[i];
        v_ttl := p_ttls[i];
        v_window := p_windows[i];
        IF v_tick IS NULL OR v_ttl IS NULL OR v_window IS NULL OR v_token IS NULL
            OR v_ttl < 1 OR v_window < v_ttl OR length(v_token) < 16 THEN
            RAISE EXCEPTION 'invalid claim arguments for job %', p_jobs[i];
        END IF;
        IF v_tick > now_ms + p_margin THEN
            answers := answers || ARRAY[3, v_tick - p_margin - now_ms]::bigint[];
            CONTINUE;
        END IF;
        v_short := left(v_token, 16);
        SELECT * INTO STRICT st FROM {schema}.claim_state WHERE job = p_jobs[i];
        -- A wider window than the job had: ticks the narrower one already
        -- forgot are unknown, so they count as taken.
        IF v_window > st.claim_window THEN
            st.floor := greatest(st.floor, st.mark - st.claim_window);
        END IF;
        v_window := greatest(v_window, st.claim_window);
        IF v_tick = st.mark THEN
            IF st.last_token = v_short THEN
                -- A resend of the newest claim: its own fencing token, not
                -- the job's latest (an earlier tick may have been granted since).
                SELECT fence INTO v_found_fence
                    FROM {schema}.claimed_ticks WHERE job = p_jobs[i] AND tick = v_tick;
                answers := answers || ARRAY[1, coalesce(v_found_fence, st.fence)]::bigint[];
            ELSE
                answers := answers || ARRAY[0, 0]::bigint[];
            END IF;
            CONTINUE;
        END IF;
        IF v_tick <= st.mark - v_window OR v_tick <= st.floor THEN
            answers := answers || ARRAY[0, 0]::bigint[];
            CONTINUE;
        END IF;
        IF v_tick < st.mark THEN
            SELECT fence, token INTO v_found_fence, v_found_token
                FROM {schema}.claimed_ticks WHERE job = p_jobs[i] AND tick = v_tick;
            IF FOUND THEN
                IF v_found_token = v_short THEN
                    answers := answers || ARRAY[1, v_found_fence]::bigint[];
                ELSE
                    answers := answers || ARRAY[0, 0]::bigint[];
                END IF;
                CONTINUE;
            END IF;
            IF st.remembered >= p_cap THEN
                SELECT tick INTO v_oldest FROM {schema}.claimed_ticks
                    WHERE job = p_jobs[i] ORDER BY tick LIMIT 1;
                IF v_tick < v_oldest THEN
                    answers := answers || ARRAY[0, 0]::bigint[];
                    CONTINUE;
                END IF;
            END IF;
        END IF;
        -- A run lock held by this very token is this claim's own: a claim
        -- that replaces an unanswered claim of an earlier tick presents it.
        IF p_exclusive[i] AND st.run_token IS NOT NULL AND st.run_until > now_ms
            AND st.run_token <> v_token THEN
            answers := answers || ARRAY[2, 0]::bigint[];
            CONTINUE;
        END IF;
        st.fence := greatest(st.fence + 1, v_tick);
        INSERT INTO {schema}.claimed_ticks (job, tick, fence, token)
            VALUES (p_jobs[i], v_tick, st.fence, v_short);
        st.remembered := st.remembered + 1;
        IF v_tick > st.mark THEN
            st.mark := v_tick;
            st.last_token := v_short;
            DELETE FROM {schema}.claimed_ticks
                WHERE job = p_jobs[i] AND tick <= st.mark - v_window;
            GET DIAGNOSTICS v_count = ROW_COUNT;
            st.remembered := st.remembered - v_count;
            IF st.remembered > p_cap THEN
                DELETE FROM {schema}.claimed_ticks
                    WHERE job = p_jobs[i] AND tick < (
                        SELECT tick FROM {schema}.claimed_ticks WHERE job = p_jobs[i]
                        ORDER BY tick DESC OFFSET p_cap - 1 LIMIT 1);
                GET DIAGNOSTICS v_count = ROW_COUNT;
                st.remembered := st.remembered - v_count;
            END IF;
        END IF;
        IF st.floor <= st.mark - v_window THEN
            st.floor := -1;
        END IF;
        UPDATE {schema}.claim_state SET
            mark = st.mark, fence = st.fence, claim_window = v_window,
            last_token = st.last_token, floor = st.floor,
            run_token = CASE WHEN p_exclusive[i] THEN v_token ELSE run_token END,
            run_until = CASE WHEN p_exclusive[i] THEN now_ms + v_ttl ELSE run_until END,
            remembered = st.remembered
        WHERE job = p_jobs[i];
        answers := answers || ARRAY[1, st.fence]::bigint[];
    END LOOP;
    RETURN answers;
END
$$;

-- Adds a finished run to a job's history and keeps the newest p_keep.
CREATE OR REPLACE FUNCTION {schema}.record_run(
    p_job text, p_tick timestamptz, p_instance text, p_started timestamptz,
    p_duration_ms bigint, p_outcome text, p_message text, p_keep integer
) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {schema}.history (job, tick, instance, started, duration_ms, outcome, message)
        VALUES (p_job, p_tick, p_instance, p_started, p_duration_ms, p_outcome, p_message);
    DELETE FROM {schema}.history WHERE job = p_job AND id < (
        SELECT id FROM {schema}.history WHERE job = p_job
        ORDER BY id DESC OFFSET greatest(p_keep, 1) - 1 LIMIT 1);
    -- The tick ran: a record of it as not run (an instance gave it up
    -- before another, whose clock lags, claimed it) is wrong.
    DELETE FROM {schema}.not_run WHERE job = p_job
        AND tick = floor(extract(epoch FROM p_tick) * 1000)::bigint;
END
$$;

INSERT INTO {schema}.schema_version (version) VALUES (2) ON CONFLICT DO NOTHING;
