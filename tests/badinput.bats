#!/usr/bin/env bats
# Bad input against the real server: bytes that are not text, telnet's
# commands, odd line ends, floods, escape sequences, names and rooms of
# every kind of wrong character.  Each expected line is PROTOCOL.md's.

load lib/chat

setup() {
	server_start
}

teardown() {
	chat_teardown
}

# alice and bob in main, alice past the line that bob joined.
open_alice_and_bob() {
	client_open alice
	client_open bob
	client_expect_exact alice "$(client_name bob) joined"
}

# The session ended as for /quit: the connection closed, the room told.
expect_quit() {
	client_expect_closed "$1"
	client_expect_exact "$2" "$(client_name "$1") left"
}

# --- invalid UTF-8: "the user is trying to quit" ---------------------------

@test "a line with a byte that never occurs in UTF-8 ends the session" {
	open_alice_and_bob
	client_send_raw alice 'abc \376 def\n'
	expect_quit alice bob
}

@test "a lone continuation byte ends the session" {
	open_alice_and_bob
	client_send_raw alice '\200\n'
	expect_quit alice bob
}

@test "a sequence cut short by the line end ends the session" {
	open_alice_and_bob
	client_send_raw alice 'cut \346\227\n'
	expect_quit alice bob
}

@test "a code point above U+10FFFF ends the session" {
	open_alice_and_bob
	client_send_raw alice 'big \364\220\200\200\n'
	expect_quit alice bob
}

@test "the lines before an invalid one still reach the room" {
	open_alice_and_bob
	client_send_raw alice 'first\ncaf\351\n'
	client_expect_exact bob "$(client_name alice): first"
	client_expect_next_exact bob "$(client_name alice) left"
	client_expect_closed alice
}

@test "a user who left by invalid UTF-8 frees the name" {
	open_alice_and_bob
	client_send_raw alice '\377\n'
	expect_quit alice bob
	client_send bob "/name $(client_name alice)"
	client_expect_next_exact bob "$(client_name bob) is now $(client_name alice)"
}

# --- NUL bytes: control bytes, removed -------------------------------------

@test "NUL bytes inside a message are removed" {
	open_alice_and_bob
	client_send_raw alice '\000he\000llo\000\n'
	client_expect_exact bob "$(client_name alice): hello"
}

@test "a line of only NUL bytes is ignored" {
	open_alice_and_bob
	client_send_raw alice '\000\000\000\n'
	client_refute_line bob "$(client_name alice):*" alice
}

@test "NUL bytes are removed before a command is read" {
	client_open alice
	client_send_raw alice '/na\000me Bo\000b\n'
	client_expect_next_exact alice "$(client_name alice) is now Bob"
}

# --- telnet ----------------------------------------------------------------

@test "telnet's ^C (IAC IP, IAC DO TIMING-MARK) ends the session" {
	open_alice_and_bob
	client_send_raw alice '\377\364\377\375\006'
	expect_quit alice bob
}

@test "IAC IP at the end of a line of text ends the session" {
	open_alice_and_bob
	client_send_raw alice 'bye\377\364\r\n'
	expect_quit alice bob
}

@test "IAC IP cut between two writes ends the session once the IP comes" {
	open_alice_and_bob
	client_send_raw alice 'hello\n\377'
	client_expect_exact bob "$(client_name alice): hello"
	client_expect_exact alice "$(client_name alice): hello"
	client_send_raw alice '\364'
	expect_quit alice bob
}

@test "IAC IP cut between two writes inside an overlong line ends the session" {
	open_alice_and_bob
	client_send_raw alice '%s\377' "$(repeat x 1000)"
	client_expect_next_exact alice "Messages can only be 400 chars long"
	client_send_raw alice '\364\n'
	expect_quit alice bob
}

@test "IAC IAC is a literal 0xff, not a command: IAC IAC IP is no interrupt" {
	open_alice_and_bob
	# over the limit, so the line is discarded rather than checked as
	# UTF-8 (where 0xff would end the session anyway)
	client_send_raw alice '%s\377' "$(repeat x 1000)"
	client_expect_next_exact alice "Messages can only be 400 chars long"
	client_send_raw alice '\377\364\n'
	client_send alice "still here"
	client_expect_next_exact alice "$(client_name alice): still here"
	client_expect_exact bob "$(client_name alice): still here"
}

# --- line ends -------------------------------------------------------------

@test "CRLF ends a line like LF" {
	open_alice_and_bob
	client_send_raw alice 'one\r\ntwo\r\n'
	client_expect_exact bob "$(client_name alice): one"
	client_expect_next_exact bob "$(client_name alice): two"
}

@test "a lone CR does not end a line: it is a control byte, removed" {
	open_alice_and_bob
	client_send_raw alice 'one\rtwo\r'
	client_send_raw alice 'three\r\n'
	client_expect_exact bob "$(client_name alice): onetwothree"
}

@test "a line of only CRs is ignored" {
	open_alice_and_bob
	client_send_raw alice '\r\r\r\n\r\n'
	client_refute_line bob "$(client_name alice):*" alice
}

@test "CR-only line ends run into one line, refused once it is too long" {
	open_alice_and_bob
	client_send_raw alice '%s' "$(repeat $'0123456789\r' 40)"
	client_expect_next_exact alice "Messages can only be 400 chars long"
	client_send_raw alice '\r\n'
	client_send alice "back"
	client_expect_next_exact alice "$(client_name alice): back"
	client_refute_line bob "*0123456789*" alice
}

# --- a flood without a line end --------------------------------------------

@test "1 MB without a newline: one error, a bounded buffer, the server and others unharmed" {
	local before child peak_before peak_after big
	before=$(busy_children)
	client_open alice
	child=$(new_busy_child "$before")
	client_open bob
	client_expect_exact alice "$(client_name bob) joined"
	peak_before=$(proc_status "$child" VmHWM)
	big=$(head -c 1048576 /dev/zero | tr '\0' x)
	client_send_raw alice '%s' "$big"
	client_expect_next_exact alice "Messages can only be 400 chars long"
	# others go on meanwhile
	client_send bob "hi"
	client_expect_exact bob "$(client_name bob): hi"
	client_expect_exact alice "$(client_name bob): hi"
	# the line ends; the sender goes on, told only once
	client_send_raw alice '\n'
	client_send alice "still here"
	client_expect_exact alice "$(client_name alice): still here"
	client_expect_exact bob "$(client_name alice): still here"
	client_refute_line alice "Messages can only be*"
	client_refute_line bob "*xxxx*" alice
	# the child read 1 MB through its fixed buffer and kept none of it
	peak_after=$(proc_status "$child" VmHWM)
	(( peak_after - peak_before < 512 )) ||
		_fail "the serving child grew from $peak_before kB to $peak_after kB"
	client_open carol
}

# --- escape sequences ------------------------------------------------------

@test "ANSI colour sequences lose their ESC before anyone sees them" {
	open_alice_and_bob
	client_send_raw alice '\033[1;31mred\033[0m text\n'
	client_expect_exact bob "$(client_name alice): [1;31mred[0m text"
	client_expect_exact alice "$(client_name alice): [1;31mred[0m text"
}

@test "screen-clearing and title-setting sequences lose their ESC and BEL" {
	open_alice_and_bob
	client_send_raw alice '\033[2J\033[H\033]0;owned\007hi\n'
	client_expect_exact bob "$(client_name alice): [2J[H]0;ownedhi"
}

@test "C1 controls such as U+009B (CSI) are removed like ESC" {
	open_alice_and_bob
	client_send_raw alice 'a\302\2332Jb\302\235c\302\240d\n'
	client_expect_exact bob "$(client_name alice): a2Jbc"$'\302\240'"d"
}

@test "a line of only escape bytes is ignored" {
	open_alice_and_bob
	client_send_raw alice '\033\033\302\233\n'
	client_refute_line bob "$(client_name alice):*" alice
}

# --- names and rooms -------------------------------------------------------

NAME_INVALID="Name must be 2 - 20 alphanumeric chars"
ROOM_INVALID="Room must be 2 - 20 alphanumeric chars"

# refused COMMAND REPLY VALUE...: each "/COMMAND VALUE" gets REPLY.
refused() {
	local command=$1 reply=$2 value
	shift 2
	for value in "$@"; do
		client_send alice "$command $value"
		client_expect_next_exact alice "$reply"
	done
}

@test "names with a space inside are refused" {
	client_open alice
	refused /name "$NAME_INVALID" "ab cd" "a  b" "x y z"
}

@test "rooms with a space inside are refused" {
	client_open alice
	refused /join "$ROOM_INVALID" "ab cd" "a  b" "x y z"
}

PUNCTUATION=('!' '"' '#' '$' '%' '&' "'" '(' ')' '*' '+' ',' '.' '/' ':'
	';' '<' '=' '>' '?' '@' '[' '\' ']' '^' '`' '{' '|' '}' '~')

@test "names with any punctuation but _ and - are refused" {
	client_open alice
	local p
	for p in "${PUNCTUATION[@]}"; do
		refused /name "$NAME_INVALID" "ab${p}cd"
	done
}

@test "rooms with any punctuation but _ and - are refused" {
	client_open alice
	local p
	for p in "${PUNCTUATION[@]}"; do
		refused /join "$ROOM_INVALID" "ab${p}cd"
	done
}

@test "a TAB inside a name or room is refused (it is kept, not removed)" {
	client_open alice
	refused /name "$NAME_INVALID" $'ab\tcd'
	refused /join "$ROOM_INVALID" $'ab\tcd'
}

@test "control bytes are removed before a name or room is checked" {
	client_open alice
	client_send_raw alice '/name Bo\001\033b\n'
	client_expect_next_exact alice "$(client_name alice) is now Bob"
	client_send_raw alice '/join pi\177zza\n'
	client_expect_next_exact alice "You joined pizza"
	client_send_raw alice '/name \001\002\n'
	client_expect_next_exact alice "$NAME_INVALID"
	client_send_raw alice '/join \033[1m\n'
	client_expect_next_exact alice "$ROOM_INVALID"
}

@test "names and rooms outside ASCII are refused" {
	client_open alice
	# e acute; CJK; a Cyrillic A that looks Latin; fullwidth AB; U+00A0
	local u
	for u in $'Jos\xc3\xa9' $'\xe6\x97\xa5\xe6\x9c\xac' $'\xd0\x90lice' \
	    $'\xef\xbc\xa1\xef\xbc\xa2' $'ab\xc2\xa0cd'; do
		refused /name "$NAME_INVALID" "$u"
		refused /join "$ROOM_INVALID" "$u"
	done
}

@test "names and rooms of one character or none are refused" {
	client_open alice
	refused /name "$NAME_INVALID" "a" "_" ""
	refused /join "$ROOM_INVALID" "a" "-" ""
	client_send alice "/name"
	client_expect_next_exact alice "$NAME_INVALID"
	client_send alice "/join"
	client_expect_next_exact alice "$ROOM_INVALID"
}

@test "names and rooms of 21 characters or more are refused" {
	client_open alice
	refused /name "$NAME_INVALID" "$(repeat a 21)" "$(repeat b 300)"
	refused /join "$ROOM_INVALID" "$(repeat a 21)" "$(repeat b 300)"
}

@test "a refused name or room changes nothing" {
	client_open alice
	refused /name "$NAME_INVALID" "bad!"
	refused /join "$ROOM_INVALID" "bad!"
	client_send alice "/users"
	client_expect_next_exact alice "Users - $(client_name alice)"
	client_send alice "/rooms"
	client_expect_next_exact alice "Rooms - main (1)"
}

# --- a name someone else holds ---------------------------------------------

@test "/name of another user's name is refused, and both keep their names" {
	open_alice_and_bob
	client_send bob "/name $(client_name alice)"
	client_expect_next_exact bob "$(client_name alice) is already taken"
	local a b
	a=$(client_name alice) b=$(client_name bob)
	client_send bob "/users"
	if [[ $a < $b ]]; then
		client_expect_next_exact bob "Users - $a, $b"
	else
		client_expect_next_exact bob "Users - $b, $a"
	fi
	client_refute_line alice "* is now *" bob
}

@test "/name of a name another user took by /name is refused" {
	open_alice_and_bob
	client_send alice "/name Alice"
	client_expect_exact bob "$(client_name alice) is now Alice"
	client_send bob "/name   Alice  "
	client_expect_next_exact bob "Alice is already taken"
}

# --- extra spaces and trailing words ---------------------------------------

@test "spaces around a command's argument are dropped" {
	client_open alice
	client_send alice "/name    Alice    "
	client_expect_next_exact alice "$(client_name alice) is now Alice"
	client_send alice "/join     pizza     "
	client_expect_next_exact alice "You joined pizza"
}

@test "a second word after a name or room makes it invalid" {
	client_open alice
	client_send alice "/name Alice Smith"
	client_expect_next_exact alice "$NAME_INVALID"
	client_send alice "/join pizza now"
	client_expect_next_exact alice "$ROOM_INVALID"
}

@test "commands without an argument ignore trailing words and spaces" {
	client_open alice
	client_send alice "/rooms   all of them   "
	client_expect_next_exact alice "Rooms - main (1)"
	client_send alice "/users  "
	client_expect_next_exact alice "Users - $(client_name alice)"
	client_send alice "/help   please"
	client_expect_help alice
	client_send alice "/quit   now"
	client_expect_closed alice
}

@test "a space before the slash makes the line text, not a command" {
	open_alice_and_bob
	client_send alice "  /quit"
	client_expect_exact bob "$(client_name alice):   /quit"
	client_expect_exact alice "$(client_name alice):   /quit"
}

@test "a command with trailing spaces only is still that command" {
	client_open alice
	client_send alice "/users     "
	client_expect_next_exact alice "Users - $(client_name alice)"
	client_send alice "/bogus    x   "
	client_expect_next_exact alice "Unrecognized command /bogus, try /help"
}
