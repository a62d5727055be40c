#!/usr/bin/perl
# tests/lib/joinwindow.pl: a user who leaves a busy room gets every line the
# room got before its "left", no more and no fewer.
#
#	perl joinwindow.pl -p PORT [-r ROUNDS] [-t SECONDS] [-a AHEAD]
#
# Three clients of chatd on PORT, driven from this one process with
# non-blocking sockets, so that no one stalls another:
#
#   C  the observer: connects first, stays in main and only reads;
#   A  the flooder: joins main, then sends the lines 1, 2, 3, ... as fast as
#      the server takes them, and reads (and throws away) its echo; but
#      never more than AHEAD lines (16384) beyond the last one C got, so
#      that with a ring of 65536 (the test's RingSize) C is never lapped,
#      however late this process or C's server child gets a CPU;
#   B  the mover: connects (its arrival in main is round 1), then ROUNDS
#      times leaves main for r1 ("/join r1") and comes back
#      ("/join main"), each time waiting for its "You joined ..." first.
#
# For each stretch of B in main, the A-lines B received from its
# "You joined main" (or its welcome) up to its "You joined r1" must be
# exactly the A-lines C saw between "B joined" and "B left".  While in r1,
# B renames itself to jwK (K the round), so C's "jwK joined" and "jwK left"
# tell which round they belong to, even past a gap in what C got.  A round
# in which B or C was told "Server is very busy and dropped N messages,
# sorry!" (or C lost a marker) is skipped and counted.  One line on stdout:
#
#	rounds=300 checked=297 skipped_dropped=3 mismatches=0 (DETAILS)
#
# where DETAILS split the mismatched rounds into those where B missed lines
# C saw before "B left" and those where B got lines C saw before "B joined",
# and tell the drops and the flood's size.  It is preceded, when something
# is wrong, by the first mismatch (or surprise) in detail.  Exit
# status 0 when every round was accounted for before the deadline (default
# 60 s) and none mismatched.  No sleep synchronises anything: every wait is
# for a line, until the deadline.
use strict;
use warnings;
use Errno qw(EAGAIN EWOULDBLOCK EINTR);
use Getopt::Std;
use IO::Socket::INET;
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Time::HiRes qw(time);

my %opt;
getopts('a:p:r:t:', \%opt)
    or die "usage: joinwindow.pl -p PORT [-r ROUNDS] [-t SECONDS] [-a AHEAD]\n";
my $port = $opt{p} or die "joinwindow.pl: -p PORT is required\n";
my $rounds = $opt{r} // 300;
my $ahead = $opt{a} // 16384;	# lines A may be ahead of C
my $start = time;
my $deadline = $start + ($opt{t} // 60);

my $DROPPED = qr/^Server is very busy and dropped (\d+) messages, sorry!$/;

# --- the clients -----------------------------------------------------------

my %client;		# by letter: sock, buf (a partial line), on_line, out
my $flooding = 0;	# A's flood is on
my $flood_n = 0;	# the last number queued for A
my $c_last = 0;		# the last of A's numbers C got
my @problems;		# the first mismatch or protocol surprise, in detail

sub problem {
	push @problems, @_ if !@problems;
}

sub open_client {
	my ($who, $on_line) = @_;
	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
	    PeerPort => $port, Proto => 'tcp')
	    or die "joinwindow.pl: connect $who to 127.0.0.1:$port: $!\n";
	setsockopt($s, IPPROTO_TCP, TCP_NODELAY, 1);
	$s->blocking(0);
	$client{$who} = { sock => $s, buf => '', on_line => $on_line,
	    out => '', discard => 0, eof => 0 };
}

sub send_to {
	my ($who, $text) = @_;
	$client{$who}{out} .= $text;
}

# Read what each readable socket has, hand complete lines to its handler;
# write what is pending (and A's flood); wait at most $wait seconds.
sub pump {
	my ($wait) = @_;
	my ($rin, $win) = ('', '');
	for my $c (values %client) {
		next if $c->{eof};
		vec($rin, fileno($c->{sock}), 1) = 1;
		vec($win, fileno($c->{sock}), 1) = 1 if length $c->{out};
	}
	my $fl = $client{A};
	# no further ahead of what C got than a fraction of the ring: C is
	# never lapped, however slow this process or C's child is scheduled
	if ($fl && $flooding && length $fl->{out} < 16384 &&
	    $flood_n - $c_last < $ahead) {
		# short lines: as many as the server will take
		$fl->{out} .= join('', map { "$_\n" } $flood_n + 1 .. $flood_n + 2048);
		$flood_n += 2048;
		vec($win, fileno($fl->{sock}), 1) = 1;
	}
	my $n = select(my $rout = $rin, my $wout = $win, undef, $wait);
	if ($n < 0) {
		return if $! == EINTR;
		die "joinwindow.pl: select: $!\n";
	}
	return if $n == 0;
	# readers first, B and C before A: they must not fall behind
	for my $who (qw(B C A)) {
		my $c = $client{$who} or next;
		next if $c->{eof} || !vec($rout, fileno($c->{sock}), 1);
		my $got = sysread($c->{sock}, my $chunk, 262144);
		if (!defined $got) {
			next if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
			die "joinwindow.pl: read from $who: $!\n";
		}
		if ($got == 0) {
			$c->{eof} = 1;
			die "joinwindow.pl: the server closed the connection of $who\n";
		}
		next if $c->{discard};	# A's echo, once it floods
		$chunk = $c->{buf} . $chunk;
		my $end = rindex($chunk, "\n");
		if ($end < 0) {
			$c->{buf} = $chunk;
			next;
		}
		$c->{buf} = substr($chunk, $end + 1);
		$c->{on_line}->($_) for split /\n/, substr($chunk, 0, $end);
	}
	for my $who (qw(A B C)) {
		my $c = $client{$who} or next;
		next if !length $c->{out} || !vec($wout, fileno($c->{sock}), 1);
		my $put = syswrite($c->{sock}, $c->{out}, 65536);
		if (!defined $put) {
			next if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
			die "joinwindow.pl: write to $who: $!\n";
		}
		substr($c->{out}, 0, $put, '');
	}
}

sub wait_for {
	my ($what, $done) = @_;
	until ($done->()) {
		my $left = $deadline - time;
		if ($left <= 0) {
			timed_out($what);
		}
		pump($left < 0.5 ? $left : 0.5);
	}
}

# --- A: the flooder ----------------------------------------------------------

my ($a_name, $a_prefix, $a_joined);

sub a_line {
	my ($line) = @_;
	if ($line =~ /^You are (\S+)$/) {
		$a_name = $1;
		$a_prefix = "$a_name: ";
	} elsif ($line eq 'You joined main') {
		$a_joined = 1;
	}
}

# --- C: the observer ---------------------------------------------------------

my $c_joined;
my %c_round;		# by B's name: nums (A's lines), dropped, lost
my $c_cur;		# the round C is in, if any
my $c_end;		# C saw A's "end": every round is in %c_round
my $c_gaps = 0;		# C was told of a drop, anywhere

sub c_line {
	my ($line) = @_;
	if (defined $a_prefix && rindex($line, $a_prefix, 0) == 0) {
		my $text = substr($line, length $a_prefix);
		if ($text eq 'end') {
			close_c_round('lost') if $c_cur;
			$c_end = 1;
		} else {
			push @{$c_cur->{nums}}, $text if $c_cur;
			$c_last = $text;
		}
	} elsif ($line =~ $DROPPED) {
		$c_gaps++;
		$c_cur->{dropped} += $1 if $c_cur;
	} elsif ($line =~ /^(\S+) joined$/) {
		return if !$c_joined || !defined $a_name || $1 eq $a_name;
		# a "left" that did not come was lost in a gap
		close_c_round('lost') if $c_cur;
		$c_cur = { key => $1, nums => [], dropped => 0, lost => 0 };
	} elsif ($line =~ /^(\S+) left$/) {
		if ($c_cur && $c_cur->{key} eq $1) {
			close_c_round();
		} else {
			# its "joined" was lost in a gap
			close_c_round('lost') if $c_cur;
			$c_round{$1} = { nums => [], dropped => 0, lost => 1 };
		}
	} elsif ($line eq 'You joined main') {
		$c_joined = 1;
	}
}

sub close_c_round {
	my ($lost) = @_;
	$c_cur->{lost} = 1 if $lost;
	$c_round{$c_cur->{key}} = $c_cur;
	$c_cur = undef;
}

# --- B: the mover ------------------------------------------------------------

my @b_key;		# B's name in each round, from 1
my %b_round;		# by B's name: nums, dropped
my $b_cur;		# B is in main for this round
my $b_where = '';	# main, r1 or '' before the welcome
my $b_left = 0;		# times B left main
my $b_name;		# B's generated name: round 1's

sub b_line {
	my ($line) = @_;
	if (defined $a_prefix && rindex($line, $a_prefix, 0) == 0) {
		if ($b_cur) {
			push @{$b_cur->{nums}}, substr($line, length $a_prefix);
		} else {
			problem("B, in $b_where, got A's line: $line");
		}
	} elsif ($line =~ $DROPPED) {
		$b_cur->{dropped} += $1 if $b_cur;
	} elsif ($line eq 'You joined main') {
		my $key = @b_key ? "jw" . (@b_key + 1) : $b_name;
		push @b_key, $key;
		$b_cur = { key => $key, nums => [], dropped => 0 };
		$b_where = 'main';
		send_to('B', "/join r1\n");
	} elsif ($line eq 'You joined r1') {
		$b_round{$b_cur->{key}} = $b_cur if $b_cur;
		$b_cur = undef;
		$b_where = 'r1';
		$b_left++;
		compare_ready();
		send_to('B', "/name jw" . ($b_left + 1) . "\n/join main\n")
		    if $b_left < $rounds;
	} elsif ($line =~ /^You are (\S+)$/) {
		$b_name = $1;
	} elsif ($line =~ /^(Name must|.* is already taken$|Room must|Too many rooms)/) {
		problem("B was told: $line");
	}
}

# --- the comparison ----------------------------------------------------------

my ($checked, $skipped, $mismatches) = (0, 0, 0);
my $b_skips = 0;	# of the skipped, those where B was told of a drop
my $missed_rounds = 0;	# B did not get a line C saw before "B left"
my $extra_rounds = 0;	# B got a line C did not see after "B joined"
my %compared;

sub ranges {
	my @n = sort { $a <=> $b } @_;
	my @r;
	for my $x (@n) {
		if (@r && $r[-1][1] + 1 == $x) {
			$r[-1][1] = $x;
		} else {
			push @r, [$x, $x];
		}
	}
	my $s = join(',', map { $_->[0] == $_->[1] ? $_->[0] : "$_->[0]-$_->[1]" } @r);
	$s = substr($s, 0, 300) . '...' if length $s > 300;
	return scalar(@n) . " [$s]";
}

sub summary_of {
	my ($nums) = @_;
	return "none" if !@$nums;
	return scalar(@$nums) . " lines, $nums->[0] to $nums->[-1]";
}

my $first_open = 0;	# rounds before this one are all compared

sub compare_ready {
	$first_open++ while $first_open < @b_key && $compared{$b_key[$first_open]};
	for my $i ($first_open .. $#b_key) {
		my $key = $b_key[$i];
		next if $compared{$key};
		my ($bv, $cv) = ($b_round{$key}, $c_round{$key});
		next if !$bv || !$cv;
		$compared{$key} = 1;
		if ($bv->{dropped} || $cv->{dropped} || $cv->{lost}) {
			$skipped++;
			$b_skips++ if $bv->{dropped};
		} else {
			$checked++;
			my $bs = join(',', @{$bv->{nums}});
			my $cs = join(',', @{$cv->{nums}});
			if ($bs ne $cs) {
				$mismatches++;
				my %inb = map { $_ => 1 } @{$bv->{nums}};
				my %inc = map { $_ => 1 } @{$cv->{nums}};
				my @missed = grep { !$inb{$_} } @{$cv->{nums}};
				my @extra = grep { !$inc{$_} } @{$bv->{nums}};
				$missed_rounds++ if @missed;
				$extra_rounds++ if @extra;
				problem("round " . ($i + 1) . " (B named $key): B's A-lines in main differ from what C saw between \"$key joined\" and \"$key left\"",
				    "  B got:  " . summary_of($bv->{nums}),
				    "  C saw:  " . summary_of($cv->{nums}),
				    "  C saw, B did not get: " . ranges(@missed),
				    "  B got, C did not see there: " . ranges(@extra),
				    (@missed || @extra ? () : "  (the same lines, in another order)"));
			}
		}
		delete $b_round{$key};
		delete $c_round{$key};
	}
}

sub report {
	printf "rounds=%d checked=%d skipped_dropped=%d mismatches=%d (B missed lines in %d, got extra lines in %d; B told of drops in %d rounds, C %d times; A sent about %d lines in %.1f s)\n",
	    $b_left, $checked, $skipped, $mismatches, $missed_rounds,
	    $extra_rounds, $b_skips, $c_gaps, $flood_n, time - $start;
}

sub timed_out {
	my ($what) = @_;
	print "$_\n" for @problems;
	printf "timed out after %.0f s waiting for %s (B left main %d of %d times, in %s)\n",
	    time - $start, $what, $b_left, $rounds, $b_where || 'nowhere yet';
	report();
	exit 1;
}

# --- the run -----------------------------------------------------------------

open_client('C', \&c_line);
wait_for("C's welcome", sub { $c_joined });
open_client('A', \&a_line);
wait_for("A's welcome", sub { $a_joined });
$client{A}{discard} = 1;
$flooding = 1;
open_client('B', \&b_line);
wait_for("B's $rounds rounds", sub { $b_left >= $rounds });
# an end mark after B's last "left": C has seen every round once it sees it
$flooding = 0;
send_to('A', "end\n");
wait_for("C to see A's end mark", sub { $c_end });
compare_ready();
# a round C has no trace of at all lost both its marks in C's gaps
for my $key (grep { !$compared{$_} } @b_key) {
	if ($c_gaps) {
		$skipped++;
	} else {
		problem("C saw neither \"$key joined\" nor \"$key left\"");
	}
}
print "$_\n" for @problems;
report();
exit(@problems ? 1 : 0);
