-- The reference AppView schema (`@atproto/bsky` 0.0.280), object for object.
--
-- Transcribed from `shared/reference/bsky-appview-schema.sql` (a `pg_dump --schema-only` of a
-- database built by the reference AppView's own kysely migrations), regrouped per table.
-- Objects are created unqualified: `indexer migrate` sets `search_path` to `DB_SCHEMA` for the
-- session, so the same file builds the schema under any name. The parity test
-- (`harness/tests/indexer_schema_parity.rs`) compares the result with the dump through the
-- catalog; change nothing here without a reason that the reference shares.

-- The reference's trigram indexes name the operator class `public.gist_trgm_ops`.
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;

-- activity_subscription
CREATE TABLE activity_subscription (
    creator character varying NOT NULL,
    "subjectDid" character varying NOT NULL,
    key character varying NOT NULL,
    "indexedAt" character varying NOT NULL,
    post boolean NOT NULL,
    reply boolean NOT NULL
);
ALTER TABLE ONLY activity_subscription
    ADD CONSTRAINT activity_subscription_pkey PRIMARY KEY (creator, key);
ALTER TABLE ONLY activity_subscription
    ADD CONSTRAINT activity_subscription_unique_creator_subject_did UNIQUE (creator, "subjectDid");

-- actor
CREATE TABLE actor (
    did character varying NOT NULL,
    handle character varying,
    "indexedAt" character varying NOT NULL,
    "takedownRef" character varying,
    "upstreamStatus" character varying,
    "trustedVerifier" boolean DEFAULT false NOT NULL,
    "ageAssuranceStatus" text,
    "ageAssuranceLastInitiatedAt" character varying,
    "ageAssuranceAccess" text,
    "ageAssuranceCountryCode" text,
    "ageAssuranceRegionCode" text
);
ALTER TABLE ONLY actor
    ADD CONSTRAINT actor_pkey PRIMARY KEY (did);
ALTER TABLE ONLY actor
    ADD CONSTRAINT actor_handle_key UNIQUE (handle);
CREATE INDEX actor_handle_tgrm_idx ON actor USING gist (handle public.gist_trgm_ops);

-- actor_block
CREATE TABLE actor_block (
    uri character varying NOT NULL,
    cid character varying NOT NULL,
    creator character varying NOT NULL,
    "subjectDid" character varying NOT NULL,
    "createdAt" character varying NOT NULL,
    "indexedAt" character varying NOT NULL,
    "sortAt" character varying GENERATED ALWAYS AS (LEAST("createdAt", "indexedAt")) STORED NOT NULL
);
ALTER TABLE ONLY actor_block
    ADD CONSTRAINT actor_block_pkey PRIMARY KEY (uri);
ALTER TABLE ONLY actor_block
    ADD CONSTRAINT actor_block_unique_subject UNIQUE (creator, "subjectDid");
CREATE INDEX actor_block_subjectdid_idx ON actor_block USING btree ("subjectDid");

-- actor_state
CREATE TABLE actor_state (
    did character varying NOT NULL,
    "lastSeenNotifs" character varying NOT NULL,
    "priorityNotifs" boolean DEFAULT false NOT NULL
);
ALTER TABLE ONLY actor_state
    ADD CONSTRAINT actor_state_pkey PRIMARY KEY (did);

-- actor_sync
CREATE TABLE actor_sync (
    did character varying NOT NULL,
    "commitCid" character varying NOT NULL,
    "repoRev" character varying
);
ALTER TABLE ONLY actor_sync
    ADD CONSTRAINT actor_sync_pkey PRIMARY KEY (did);

-- blob_takedown
CREATE TABLE blob_takedown (
    did character varying NOT NULL,
    cid character varying NOT NULL,
    "takedownRef" character varying NOT NULL
);
ALTER TABLE ONLY blob_takedown
    ADD CONSTRAINT blob_takedown_pkey PRIMARY KEY (did, cid);

-- bookmark
CREATE TABLE bookmark (
    creator character varying NOT NULL,
    key character varying NOT NULL,
    "subjectUri" character varying NOT NULL,
    "subjectCid" character varying NOT NULL,
    "indexedAt" character varying NOT NULL
);
ALTER TABLE ONLY bookmark
    ADD CONSTRAINT bookmark_pkey PRIMARY KEY (creator, key);
ALTER TABLE ONLY bookmark
    ADD CONSTRAINT bookmark_unique_uri_creator UNIQUE ("subjectUri", creator);

-- did_cache
CREATE TABLE did_cache (
    did character varying NOT NULL,
    doc jsonb NOT NULL,
    "updatedAt" bigint NOT NULL
);
ALTER TABLE ONLY did_cache
    ADD CONSTRAINT did_cache_pkey PRIMARY KEY (did);

-- draft
CREATE TABLE draft (
    creator character varying NOT NULL,
    key character varying NOT NULL,
    "createdAt" character varying NOT NULL,
    "updatedAt" character varying NOT NULL,
    payload text NOT NULL
);
ALTER TABLE ONLY draft
    ADD CONSTRAINT draft_pkey PRIMARY KEY (creator, key);
CREATE INDEX draft_creator_updated_at_key_idx ON draft USING btree (creator, "updatedAt", key);

-- duplicate_record
CREATE TABLE duplicate_record (
    uri character varying NOT NULL,
    cid character varying NOT NULL,
    "duplicateOf" character varying NOT NULL,
    "indexedAt" character varying NOT NULL
);
ALTER TABLE ONLY duplicate_record
    ADD CONSTRAINT duplicate_record_pkey PRIMARY KEY (uri);
CREATE INDEX duplicate_record_duplicate_of_idx ON duplicate_record USING btree ("duplicateOf");

-- feed_generator
CREATE TABLE feed_generator (
    uri character varying NOT NULL,
    cid character varying NOT NULL,
    creator character varying NOT NULL,
    "feedDid" character varying NOT NULL,
    "displayName" character varying,
    description character varying,
    "descriptionFacets" character varying,
    "avatarCid" character varying,
    "createdAt" character varying NOT NULL,
    "indexedAt" character varying NOT NULL,
    "sortAt" character varying GENERATED ALWAYS AS (LEAST("createdAt", "indexedAt")) STORED NOT NULL
);
ALTER TABLE ONLY feed_generator
    ADD CONSTRAINT feed_generator_pkey PRIMARY KEY (uri);
CREATE INDEX feed_generator_creator_index ON feed_generator USING btree (creator);

-- feed_item
CREATE TABLE feed_item (
    uri character varying NOT NULL,
    cid character varying NOT NULL,
    type character varying NOT NULL,
    "postUri" character varying NOT NULL,
    "originatorDid" character varying NOT NULL,
    "sortAt" character varying NOT NULL
);
ALTER TABLE ONLY feed_item
    ADD CONSTRAINT feed_item_pkey PRIMARY KEY (uri);
CREATE INDEX feed_item_cursor_idx ON feed_item USING btree ("sortAt", cid);
CREATE INDEX feed_item_originator_cursor_idx ON feed_item USING btree ("originatorDid", "sortAt", cid);
CREATE INDEX feed_item_post_uri_idx ON feed_item USING btree ("postUri");

-- follow
CREATE TABLE follow (
    uri character varying NOT NULL,
    cid character varying NOT NULL,
    creator character varying NOT NULL,
    "subjectDid" character varying NOT NULL,
    "createdAt" character varying NOT NULL,
    "indexedAt" character varying NOT NULL,
    "sortAt" character varying GENERATED ALWAYS AS (LEAST("createdAt", "indexedAt")) STORED NOT NULL
);
ALTER TABLE ONLY follow
    ADD CONSTRAINT follow_pkey PRIMARY KEY (uri);
ALTER TABLE ONLY follow
    ADD CONSTRAINT follow_unique_subject UNIQUE (creator, "subjectDid");
CREATE INDEX follow_creator_cursor_idx ON follow USING btree (creator, "sortAt", cid);
CREATE INDEX follow_subject_cursor_idx ON follow USING btree ("subjectDid", "sortAt", cid);

-- kysely_migration
CREATE TABLE kysely_migration (
    name character varying(255) NOT NULL,
    "timestamp" character varying(255) NOT NULL
);
ALTER TABLE ONLY kysely_migration
    ADD CONSTRAINT kysely_migration_pkey PRIMARY KEY (name);

-- kysely_migration_lock
CREATE TABLE kysely_migration_lock (
    id character varying(255) NOT NULL,
    is_locked integer DEFAULT 0 NOT NULL
);
ALTER TABLE ONLY kysely_migration_lock
    ADD CONSTRAINT kysely_migration_lock_pkey PRIMARY KEY (id);

-- label
CREATE TABLE label (
    src character varying NOT NULL,
    uri character varying NOT NULL,
    cid character varying NOT NULL,
    val character varying NOT NULL,
    neg boolean NOT NULL,
    cts character varying NOT NULL,
    exp character varying
);
ALTER TABLE ONLY label
    ADD CONSTRAINT label_pkey PRIMARY KEY (src, uri, cid, val);
CREATE INDEX label_cts_idx ON label USING btree (cts);
CREATE INDEX label_uri_index ON label USING btree (uri);

-- labeler
CREATE TABLE labeler (
    uri character varying NOT NULL,
    cid character varying NOT NULL,
    creator character varying NOT NULL,
    "createdAt" character varying NOT NULL,
    "indexedAt" character varying NOT NULL,
    "sortAt" character varying GENERATED ALWAYS AS (LEAST("createdAt", "indexedAt")) STORED NOT NULL
);
ALTER TABLE ONLY labeler
    ADD CONSTRAINT labeler_pkey PRIMARY KEY (uri);
CREATE INDEX labeler_order_by_idx ON labeler USING btree ("sortAt", cid);

-- like
CREATE TABLE "like" (
    uri character varying NOT NULL,
    cid character varying NOT NULL,
    creator character varying NOT NULL,
    subject character varying NOT NULL,
    "subjectCid" character varying NOT NULL,
    "createdAt" character varying NOT NULL,
    "indexedAt" character varying NOT NULL,
    "sortAt" character varying GENERATED ALWAYS AS (LEAST("createdAt", "indexedAt")) STORED NOT NULL,
    via character varying,
    "viaCid" character varying
);
ALTER TABLE ONLY "like"
    ADD CONSTRAINT like_pkey PRIMARY KEY (uri);
ALTER TABLE ONLY "like"
    ADD CONSTRAINT like_unique_subject UNIQUE (subject, creator);
CREATE INDEX like_creator_cursor_idx ON "like" USING btree (creator, "sortAt", cid);
CREATE INDEX like_subject_sort_at_creator_idx ON "like" USING btree (subject, "sortAt" DESC) INCLUDE (creator);

-- list
CREATE TABLE list (
    uri character varying NOT NULL,
    cid character varying NOT NULL,
    creator character varying NOT NULL,
    name character varying NOT NULL,
    purpose character varying NOT NULL,
    description character varying,
    "descriptionFacets" character varying,
    "avatarCid" character varying,
    "createdAt" character varying NOT NULL,
    "indexedAt" character varying NOT NULL,
    "sortAt" character varying GENERATED ALWAYS AS (LEAST("createdAt", "indexedAt")) STORED NOT NULL
);
ALTER TABLE ONLY list
    ADD CONSTRAINT list_pkey PRIMARY KEY (uri);
CREATE INDEX list_creator_idx ON list USING btree (creator);

-- list_block
CREATE TABLE list_block (
    uri character varying NOT NULL,
    cid character varying NOT NULL,
    creator character varying NOT NULL,
    "subjectUri" character varying NOT NULL,
    "createdAt" character varying NOT NULL,
    "indexedAt" character varying NOT NULL,
    "sortAt" character varying GENERATED ALWAYS AS (LEAST("createdAt", "indexedAt")) STORED NOT NULL
);
ALTER TABLE ONLY list_block
    ADD CONSTRAINT list_block_pkey PRIMARY KEY (uri);
ALTER TABLE ONLY list_block
    ADD CONSTRAINT list_block_unique_subject UNIQUE (creator, "subjectUri");

-- list_item
CREATE TABLE list_item (
    uri character varying NOT NULL,
    cid character varying NOT NULL,
    creator character varying NOT NULL,
    "subjectDid" character varying NOT NULL,
    "listUri" character varying NOT NULL,
    "createdAt" character varying NOT NULL,
    "indexedAt" character varying NOT NULL,
    "sortAt" character varying GENERATED ALWAYS AS (LEAST("createdAt", "indexedAt")) STORED NOT NULL
);
ALTER TABLE ONLY list_item
    ADD CONSTRAINT list_item_pkey PRIMARY KEY (uri);
ALTER TABLE ONLY list_item
    ADD CONSTRAINT list_item_unique_subject_in_list UNIQUE ("listUri", "subjectDid");
CREATE INDEX list_item_creator_idx ON list_item USING btree (creator);
CREATE INDEX list_item_subject_idx ON list_item USING btree ("subjectDid");

-- list_mute
CREATE TABLE list_mute (
    "listUri" character varying NOT NULL,
    "mutedByDid" character varying NOT NULL,
    "createdAt" character varying NOT NULL
);
ALTER TABLE ONLY list_mute
    ADD CONSTRAINT list_mute_pkey PRIMARY KEY ("mutedByDid", "listUri");

-- moderation_action
CREATE SEQUENCE moderation_action_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
CREATE TABLE moderation_action (
    id integer NOT NULL,
    action character varying NOT NULL,
    "subjectType" character varying NOT NULL,
    "subjectDid" character varying NOT NULL,
    "subjectUri" character varying,
    "subjectCid" character varying,
    reason text NOT NULL,
    "createdAt" character varying NOT NULL,
    "createdBy" character varying NOT NULL,
    "reversedAt" character varying,
    "reversedBy" character varying,
    "reversedReason" text,
    "createLabelVals" character varying,
    "negateLabelVals" character varying,
    "durationInHours" integer,
    "expiresAt" character varying
);
ALTER TABLE ONLY moderation_action ALTER COLUMN id SET DEFAULT nextval('moderation_action_id_seq'::regclass);
ALTER SEQUENCE moderation_action_id_seq OWNED BY moderation_action.id;
ALTER TABLE ONLY moderation_action
    ADD CONSTRAINT moderation_action_pkey PRIMARY KEY (id);

-- moderation_action_subject_blob
CREATE TABLE moderation_action_subject_blob (
    "actionId" integer NOT NULL,
    cid character varying NOT NULL
);
ALTER TABLE ONLY moderation_action_subject_blob
    ADD CONSTRAINT moderation_action_subject_blob_pkey PRIMARY KEY ("actionId", cid);
CREATE INDEX moderation_action_subject_blob_cid_idx ON moderation_action_subject_blob USING btree (cid);

-- moderation_event
CREATE SEQUENCE moderation_event_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
CREATE TABLE moderation_event (
    id integer NOT NULL,
    action character varying NOT NULL,
    "subjectType" character varying NOT NULL,
    "subjectDid" character varying NOT NULL,
    "subjectUri" character varying,
    "subjectCid" character varying,
    comment text,
    meta jsonb,
    "createdAt" character varying NOT NULL,
    "createdBy" character varying NOT NULL,
    "reversedAt" character varying,
    "reversedBy" character varying,
    "durationInHours" integer,
    "expiresAt" character varying,
    "reversedReason" text,
    "createLabelVals" character varying,
    "negateLabelVals" character varying,
    "legacyRefId" integer
);
ALTER TABLE ONLY moderation_event ALTER COLUMN id SET DEFAULT nextval('moderation_event_id_seq'::regclass);
ALTER SEQUENCE moderation_event_id_seq OWNED BY moderation_event.id;
ALTER TABLE ONLY moderation_event
    ADD CONSTRAINT moderation_event_pkey PRIMARY KEY (id);

-- moderation_report
CREATE SEQUENCE moderation_report_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
CREATE TABLE moderation_report (
    id integer NOT NULL,
    "subjectType" character varying NOT NULL,
    "subjectDid" character varying NOT NULL,
    "subjectUri" character varying,
    "subjectCid" character varying,
    "reasonType" character varying NOT NULL,
    reason text,
    "reportedByDid" character varying NOT NULL,
    "createdAt" character varying NOT NULL
);
ALTER TABLE ONLY moderation_report ALTER COLUMN id SET DEFAULT nextval('moderation_report_id_seq'::regclass);
ALTER SEQUENCE moderation_report_id_seq OWNED BY moderation_report.id;
ALTER TABLE ONLY moderation_report
    ADD CONSTRAINT moderation_report_pkey PRIMARY KEY (id);

-- moderation_report_resolution
CREATE TABLE moderation_report_resolution (
    "reportId" integer NOT NULL,
    "actionId" integer NOT NULL,
    "createdBy" character varying NOT NULL,
    "createdAt" character varying NOT NULL
);
ALTER TABLE ONLY moderation_report_resolution
    ADD CONSTRAINT moderation_report_resolution_pkey PRIMARY KEY ("reportId", "actionId");
CREATE INDEX moderation_report_resolution_action_id_idx ON moderation_report_resolution USING btree ("actionId");

-- moderation_subject_status
CREATE SEQUENCE moderation_subject_status_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
CREATE TABLE moderation_subject_status (
    id integer NOT NULL,
    did character varying NOT NULL,
    "recordPath" character varying DEFAULT ''::character varying NOT NULL,
    "blobCids" jsonb,
    "recordCid" character varying,
    "reviewState" character varying NOT NULL,
    comment character varying,
    "muteUntil" character varying,
    "lastReviewedAt" character varying,
    "lastReviewedBy" character varying,
    "lastReportedAt" character varying,
    takendown boolean DEFAULT false NOT NULL,
    "suspendUntil" character varying,
    "createdAt" character varying NOT NULL,
    "updatedAt" character varying NOT NULL
);
ALTER TABLE ONLY moderation_subject_status ALTER COLUMN id SET DEFAULT nextval('moderation_subject_status_id_seq'::regclass);
ALTER SEQUENCE moderation_subject_status_id_seq OWNED BY moderation_subject_status.id;
ALTER TABLE ONLY moderation_subject_status
    ADD CONSTRAINT moderation_subject_status_pkey PRIMARY KEY (id);
ALTER TABLE ONLY moderation_subject_status
    ADD CONSTRAINT moderation_status_unique_idx UNIQUE (did, "recordPath");
CREATE INDEX moderation_subject_status_blob_cids_idx ON moderation_subject_status USING gin ("blobCids");

-- mute
CREATE TABLE mute (
    "subjectDid" character varying NOT NULL,
    "mutedByDid" character varying NOT NULL,
    "createdAt" character varying NOT NULL,
    "onlyReposts" boolean DEFAULT false NOT NULL,
    "onlyQuoteposts" boolean DEFAULT false NOT NULL
);
ALTER TABLE ONLY mute
    ADD CONSTRAINT mute_pkey PRIMARY KEY ("mutedByDid", "subjectDid");

-- notification
CREATE SEQUENCE notification_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
CREATE TABLE notification (
    id bigint NOT NULL,
    did character varying NOT NULL,
    "recordUri" character varying NOT NULL,
    "recordCid" character varying NOT NULL,
    author character varying NOT NULL,
    reason character varying NOT NULL,
    "reasonSubject" character varying,
    "sortAt" character varying NOT NULL
);
ALTER TABLE ONLY notification ALTER COLUMN id SET DEFAULT nextval('notification_id_seq'::regclass);
ALTER SEQUENCE notification_id_seq OWNED BY notification.id;
ALTER TABLE ONLY notification
    ADD CONSTRAINT notification_pkey PRIMARY KEY (id);
CREATE INDEX notification_author_idx ON notification USING btree (author);
CREATE INDEX notification_did_sortat_idx ON notification USING btree (did, "sortAt");
CREATE INDEX notification_record_idx ON notification USING btree ("recordUri");

-- notification_push_token
CREATE TABLE notification_push_token (
    did character varying NOT NULL,
    platform character varying NOT NULL,
    token character varying NOT NULL,
    "appId" character varying NOT NULL
);
ALTER TABLE ONLY notification_push_token
    ADD CONSTRAINT notification_push_token_pkey PRIMARY KEY (did, token);

-- op_thread_reply
CREATE TABLE op_thread_reply (
    "rootUri" character varying NOT NULL,
    "parentUri" character varying NOT NULL,
    uri character varying NOT NULL,
    "deletedAt" character varying
);
ALTER TABLE ONLY op_thread_reply
    ADD CONSTRAINT op_thread_reply_pkey PRIMARY KEY ("rootUri", uri);

-- post
CREATE TABLE post (
    uri character varying NOT NULL,
    cid character varying NOT NULL,
    creator character varying NOT NULL,
    text character varying NOT NULL,
    "replyRoot" character varying,
    "replyRootCid" character varying,
    "replyParent" character varying,
    "replyParentCid" character varying,
    "createdAt" character varying NOT NULL,
    "indexedAt" character varying NOT NULL,
    "sortAt" character varying GENERATED ALWAYS AS (LEAST("createdAt", "indexedAt")) STORED NOT NULL,
    langs jsonb,
    "invalidReplyRoot" boolean,
    "violatesThreadGate" boolean,
    tags jsonb,
    "violatesEmbeddingRules" boolean,
    "hasThreadGate" boolean,
    "hasPostGate" boolean
);
ALTER TABLE ONLY post
    ADD CONSTRAINT post_pkey PRIMARY KEY (uri);
CREATE INDEX post_creator_cursor_idx ON post USING btree (creator, "sortAt", cid);
CREATE INDEX post_order_by_idx ON post USING btree ("sortAt", cid);
CREATE INDEX post_replyparent_idx ON post USING btree ("replyParent") INCLUDE (uri);

-- post_agg
CREATE TABLE post_agg (
    uri character varying NOT NULL,
    "likeCount" bigint DEFAULT 0 NOT NULL,
    "replyCount" bigint DEFAULT 0 NOT NULL,
    "repostCount" bigint DEFAULT 0 NOT NULL,
    "quoteCount" bigint DEFAULT 0 NOT NULL,
    "bookmarkCount" bigint DEFAULT 0 NOT NULL
);
ALTER TABLE ONLY post_agg
    ADD CONSTRAINT post_agg_pkey PRIMARY KEY (uri);

-- post_embed_external
CREATE TABLE post_embed_external (
    "postUri" character varying NOT NULL,
    uri character varying NOT NULL,
    title character varying NOT NULL,
    description character varying NOT NULL,
    "thumbCid" character varying
);
ALTER TABLE ONLY post_embed_external
    ADD CONSTRAINT post_embed_external_pkey PRIMARY KEY ("postUri");

-- post_embed_gallery_image
CREATE TABLE post_embed_gallery_image (
    "postUri" character varying NOT NULL,
    "position" character varying NOT NULL,
    "imageCid" character varying NOT NULL,
    alt character varying NOT NULL
);
ALTER TABLE ONLY post_embed_gallery_image
    ADD CONSTRAINT post_embed_gallery_image_pkey PRIMARY KEY ("postUri", "position");

-- post_embed_image
CREATE TABLE post_embed_image (
    "postUri" character varying NOT NULL,
    "position" character varying NOT NULL,
    "imageCid" character varying NOT NULL,
    alt character varying NOT NULL
);
ALTER TABLE ONLY post_embed_image
    ADD CONSTRAINT post_embed_image_pkey PRIMARY KEY ("postUri", "position");

-- post_embed_record
CREATE TABLE post_embed_record (
    "postUri" character varying NOT NULL,
    "embedUri" character varying NOT NULL,
    "embedCid" character varying NOT NULL
);
ALTER TABLE ONLY post_embed_record
    ADD CONSTRAINT post_embed_record_pkey PRIMARY KEY ("postUri", "embedUri");

-- post_embed_video
CREATE TABLE post_embed_video (
    "postUri" character varying NOT NULL,
    "videoCid" character varying NOT NULL,
    alt character varying
);
ALTER TABLE ONLY post_embed_video
    ADD CONSTRAINT post_embed_video_pkey PRIMARY KEY ("postUri");

-- post_gate
CREATE TABLE post_gate (
    uri character varying NOT NULL,
    cid character varying NOT NULL,
    creator character varying NOT NULL,
    "postUri" character varying NOT NULL,
    "createdAt" character varying NOT NULL,
    "indexedAt" character varying NOT NULL
);
ALTER TABLE ONLY post_gate
    ADD CONSTRAINT post_gate_pkey PRIMARY KEY (uri);
ALTER TABLE ONLY post_gate
    ADD CONSTRAINT "post_gate_postUri_key" UNIQUE ("postUri");

-- private_data
CREATE TABLE private_data (
    "actorDid" character varying NOT NULL,
    namespace character varying NOT NULL,
    key character varying NOT NULL,
    payload text NOT NULL,
    "indexedAt" character varying NOT NULL,
    "updatedAt" character varying NOT NULL
);
ALTER TABLE ONLY private_data
    ADD CONSTRAINT private_data_pkey PRIMARY KEY ("actorDid", namespace, key);

-- profile
CREATE TABLE profile (
    uri character varying NOT NULL,
    cid character varying NOT NULL,
    creator character varying NOT NULL,
    "displayName" character varying,
    description character varying,
    "avatarCid" character varying,
    "bannerCid" character varying,
    "indexedAt" character varying NOT NULL,
    "joinedViaStarterPackUri" character varying,
    "createdAt" character varying NOT NULL,
    "pinnedPost" character varying,
    "pinnedPostCid" character varying
);
ALTER TABLE ONLY profile
    ADD CONSTRAINT profile_pkey PRIMARY KEY (uri);
CREATE INDEX profile_creator_idx ON profile USING btree (creator);
CREATE INDEX profile_display_name_tgrm_idx ON profile USING gist ("displayName" public.gist_trgm_ops);
CREATE INDEX profile_starter_pack_joined_idx ON profile USING btree ("joinedViaStarterPackUri", "createdAt");

-- profile_agg
CREATE TABLE profile_agg (
    did character varying NOT NULL,
    "followersCount" bigint DEFAULT 0 NOT NULL,
    "followsCount" bigint DEFAULT 0 NOT NULL,
    "postsCount" bigint DEFAULT 0 NOT NULL
);
ALTER TABLE ONLY profile_agg
    ADD CONSTRAINT profile_agg_pkey PRIMARY KEY (did);

-- quote
CREATE TABLE quote (
    uri character varying NOT NULL,
    cid character varying NOT NULL,
    subject character varying NOT NULL,
    "subjectCid" character varying NOT NULL,
    "createdAt" character varying NOT NULL,
    "indexedAt" character varying NOT NULL,
    "sortAt" character varying GENERATED ALWAYS AS (LEAST("createdAt", "indexedAt")) STORED NOT NULL
);
ALTER TABLE ONLY quote
    ADD CONSTRAINT quote_pkey PRIMARY KEY (uri);
CREATE INDEX quote_subject_cursor_idx ON quote USING btree (subject, "sortAt", cid);

-- record
CREATE TABLE record (
    uri character varying NOT NULL,
    cid character varying NOT NULL,
    did character varying NOT NULL,
    json text NOT NULL,
    "indexedAt" character varying NOT NULL,
    "takedownRef" character varying,
    tags jsonb
);
ALTER TABLE ONLY record
    ADD CONSTRAINT record_pkey PRIMARY KEY (uri);
CREATE INDEX record_did_idx ON record USING btree (did);

-- reference_list_opt_out
CREATE TABLE reference_list_opt_out (
    uri character varying NOT NULL,
    cid character varying NOT NULL,
    creator character varying NOT NULL,
    "subjectUri" character varying NOT NULL,
    "createdAt" character varying NOT NULL,
    "indexedAt" character varying NOT NULL,
    "sortAt" character varying GENERATED ALWAYS AS (LEAST("createdAt", "indexedAt")) STORED NOT NULL
);
ALTER TABLE ONLY reference_list_opt_out
    ADD CONSTRAINT reference_list_opt_out_pkey PRIMARY KEY (uri);
ALTER TABLE ONLY reference_list_opt_out
    ADD CONSTRAINT reference_list_opt_out_unique_subject UNIQUE (creator, "subjectUri");

-- repost
CREATE TABLE repost (
    uri character varying NOT NULL,
    cid character varying NOT NULL,
    creator character varying NOT NULL,
    subject character varying NOT NULL,
    "subjectCid" character varying NOT NULL,
    "createdAt" character varying NOT NULL,
    "indexedAt" character varying NOT NULL,
    "sortAt" character varying GENERATED ALWAYS AS (LEAST("createdAt", "indexedAt")) STORED NOT NULL,
    via character varying,
    "viaCid" character varying
);
ALTER TABLE ONLY repost
    ADD CONSTRAINT repost_pkey PRIMARY KEY (uri);
ALTER TABLE ONLY repost
    ADD CONSTRAINT repost_unique_subject UNIQUE (creator, subject);
CREATE INDEX repost_order_by_idx ON repost USING btree ("sortAt", cid);
CREATE INDEX repost_subject_idx ON repost USING btree (subject);

-- starter_pack
CREATE TABLE starter_pack (
    uri character varying NOT NULL,
    cid character varying NOT NULL,
    creator character varying NOT NULL,
    "createdAt" character varying NOT NULL,
    "indexedAt" character varying NOT NULL,
    "sortAt" character varying GENERATED ALWAYS AS (LEAST("createdAt", "indexedAt")) STORED NOT NULL,
    name character varying
);
ALTER TABLE ONLY starter_pack
    ADD CONSTRAINT starter_pack_pkey PRIMARY KEY (uri);
CREATE INDEX starter_pack_creator_order_by_idx ON starter_pack USING btree (creator, "sortAt", cid);
CREATE INDEX starter_pack_name_tgrm_idx ON starter_pack USING gist (name public.gist_trgm_ops);

-- subscription
CREATE TABLE subscription (
    service character varying NOT NULL,
    method character varying NOT NULL,
    state character varying NOT NULL
);
ALTER TABLE ONLY subscription
    ADD CONSTRAINT subscription_pkey PRIMARY KEY (service, method);

-- suggested_feed
CREATE TABLE suggested_feed (
    uri character varying NOT NULL,
    "order" integer NOT NULL
);
ALTER TABLE ONLY suggested_feed
    ADD CONSTRAINT suggested_feed_pkey PRIMARY KEY (uri);

-- suggested_follow
CREATE TABLE suggested_follow (
    did character varying NOT NULL,
    "order" integer NOT NULL
);
ALTER TABLE ONLY suggested_follow
    ADD CONSTRAINT suggested_follow_pkey PRIMARY KEY (did);

-- tagged_suggestion
CREATE TABLE tagged_suggestion (
    tag character varying NOT NULL,
    subject character varying NOT NULL,
    "subjectType" character varying NOT NULL
);
ALTER TABLE ONLY tagged_suggestion
    ADD CONSTRAINT tagged_suggestion_pkey PRIMARY KEY (tag, subject);

-- thread_gate
CREATE TABLE thread_gate (
    uri character varying NOT NULL,
    cid character varying NOT NULL,
    creator character varying NOT NULL,
    "postUri" character varying NOT NULL,
    "createdAt" character varying NOT NULL,
    "indexedAt" character varying NOT NULL
);
ALTER TABLE ONLY thread_gate
    ADD CONSTRAINT thread_gate_pkey PRIMARY KEY (uri);
ALTER TABLE ONLY thread_gate
    ADD CONSTRAINT "thread_gate_postUri_key" UNIQUE ("postUri");

-- thread_mute
CREATE TABLE thread_mute (
    "rootUri" character varying NOT NULL,
    "mutedByDid" character varying NOT NULL,
    "createdAt" character varying NOT NULL
);
ALTER TABLE ONLY thread_mute
    ADD CONSTRAINT thread_mute_pkey PRIMARY KEY ("rootUri", "mutedByDid");

-- verification
CREATE TABLE verification (
    uri character varying NOT NULL,
    cid character varying NOT NULL,
    rkey character varying NOT NULL,
    creator character varying NOT NULL,
    subject character varying NOT NULL,
    handle character varying NOT NULL,
    "displayName" character varying NOT NULL,
    "createdAt" character varying NOT NULL,
    "indexedAt" character varying NOT NULL,
    "sortedAt" character varying GENERATED ALWAYS AS (LEAST("createdAt", "indexedAt")) STORED NOT NULL
);
ALTER TABLE ONLY verification
    ADD CONSTRAINT verification_pkey PRIMARY KEY (uri);
ALTER TABLE ONLY verification
    ADD CONSTRAINT verification_unique_subject_creator UNIQUE (subject, creator);

-- view_param
CREATE TABLE view_param (
    name character varying NOT NULL,
    value character varying
);
ALTER TABLE ONLY view_param
    ADD CONSTRAINT view_param_pkey PRIMARY KEY (name);

-- foreign keys (after every table they reference)
ALTER TABLE ONLY moderation_action_subject_blob
    ADD CONSTRAINT "moderation_action_subject_blob_actionId_fkey" FOREIGN KEY ("actionId") REFERENCES moderation_action(id);
ALTER TABLE ONLY moderation_report_resolution
    ADD CONSTRAINT "moderation_report_resolution_actionId_fkey" FOREIGN KEY ("actionId") REFERENCES moderation_action(id);
ALTER TABLE ONLY moderation_report_resolution
    ADD CONSTRAINT "moderation_report_resolution_reportId_fkey" FOREIGN KEY ("reportId") REFERENCES moderation_report(id);

-- Materialized view of the reference's legacy "what's hot" feed. The dump says WITH NO DATA only
-- because a schema-only dump never carries contents; the reference's migration populated it, and
-- an unpopulated view can be neither read nor refreshed concurrently.
CREATE MATERIALIZED VIEW algo_whats_hot_view AS
 SELECT post.uri,
    post.cid,
    round(((1000000)::numeric * ((post_agg."likeCount")::numeric / (((EXTRACT(epoch FROM age(now(), ((post."indexedAt")::timestamp without time zone)::timestamp with time zone)) / (3600)::numeric) + (2)::numeric) ^ 1.8)))) AS score
   FROM (post
     JOIN post_agg ON (((post_agg.uri)::text = (post.uri)::text)))
  WHERE (((post."indexedAt")::text > ( SELECT to_char((now() - (view_param.value)::interval), 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'::text) AS val
           FROM view_param
          WHERE ((view_param.name)::text = 'whats_hot_interval'::text))) AND (post."replyParent" IS NULL) AND (post_agg."likeCount" > ( SELECT (view_param.value)::integer AS val
           FROM view_param
          WHERE ((view_param.name)::text = 'whats_hot_like_threshold'::text))))
  WITH DATA;
CREATE INDEX algo_whats_hot_view_cursor_idx ON algo_whats_hot_view USING btree (score, cid);
CREATE UNIQUE INDEX algo_whats_hot_view_uri_idx ON algo_whats_hot_view USING btree (uri);
